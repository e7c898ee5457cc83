#!/usr/bin/env python3
"""A reference decision agent for backlogd (SPEC §13, docs/agents.md).

backlogd POSTs a consultation (schemas/agent/request-v1.json): a domain's best
READY pilot tasks by policy score and the domain's context. This agent answers
(schemas/agent/response-v1.json) with a heuristic over data health and
deadlines:

  - escalate risky work in the domains named by --escalate-domains (risk at or
    above --escalate-risk): a human approves it first;
  - hold tasks whose input data is stale (data_ready_at older than
    --stale-after-ms), within the limits backlogd sent (hold_max_ms,
    max_held_share, never past a deadline minus deadline_margin_ms);
  - put tasks whose deadline is near (within --deadline-soon-ms) first,
    earliest deadline first; the rest is left to the policy's order.

It is a template: decide() is the one function a team replaces to call its own
model; everything around it (HTTP, the bearer token, the limits, the switches
for tests) stays. Standard library only.

    python3 examples/agents/reference_agent.py --port 8790
    python3 examples/agents/reference_agent.py --port 0 --token-env AGENT_TOKEN   # prints the port

Test switches: a first path segment naming a mode picks it for that request
(POST /slow/decide), else --mode does:

  normal         the heuristic
  slow           sleep --slow-ms, then answer normally (past backlogd's timeout_ms)
  error          HTTP 500
  redirect       HTTP 302 to /decide (backlogd never follows it)
  garbage        HTTP 200 with a body that is not JSON
  huge           HTTP 200 with --huge-bytes of body (backlogd stops at max_response_bytes)
  unknown-ids    an order over task ids that were never sent
  past-deadline  a hold of every candidate for longer than allowed and past its deadline
"""
import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AGENT_NAME = "reference-agent"
AGENT_VERSION = "1.0.0"
RESPONSE_SCHEMA = "backlogd.agent.response.v1"
REQUEST_SCHEMA = "backlogd.agent.request.v1"
MODES = ("normal", "slow", "error", "redirect", "garbage", "huge", "unknown-ids", "past-deadline")
MAX_REQUEST_BYTES = 16 << 20


# ---- the decision: replace this with a call to your model -------------------------------------

def decide(request, settings):
    """Returns (order, holds, escalations) for one consultation.

    request: the decoded request (schemas/agent/request-v1.json).
    settings: the command-line settings (thresholds of the heuristic).
    Each part is a list of dicts as the response schema has them. Stay within
    request["limits"]: backlogd refuses, and counts, what breaks them.
    """
    now = request["sent_at_ms"]
    limits = request["limits"]
    candidates = request["candidates"]
    hold_budget = int(limits["max_held_share"] * len(candidates) + 1e-9)
    order, holds, escalations = [], [], []
    for candidate in candidates:
        reason = escalation_reason(request["domain"], candidate, settings)
        if reason:
            escalations.append({"task_id": candidate["task_id"], "reason": reason})
            continue
        hold = stale_data_hold(candidate, now, limits, settings)
        if hold and len(holds) < hold_budget:
            holds.append(hold)
            continue
        deadline = candidate["deadline_ms"]
        if deadline is not None and deadline - now <= settings.deadline_soon_ms:
            order.append(candidate)
    order.sort(key=lambda c: c["deadline_ms"])
    picks = [{"task_id": c["task_id"], "reason": f"deadline in {max(0, c['deadline_ms'] - now) // 1000} s"}
             for c in order]
    return picks, holds, escalations


def escalation_reason(domain, candidate, settings):
    if domain in settings.escalate_domains and candidate["risk"] >= settings.escalate_risk:
        return f"risk {candidate['risk']:.2f} in {domain}: a human approves it first"
    return None


def stale_data_hold(candidate, now, limits, settings):
    """A hold until the data is likely refreshed, bounded by the limits; None when not stale or no room."""
    data_ready_at = candidate["data_ready_at_ms"]
    if data_ready_at is None or now - data_ready_at <= settings.stale_after_ms:
        return None
    hold_ms = min(settings.hold_ms, limits["hold_max_ms"])
    deadline = candidate["deadline_ms"]
    if deadline is not None:
        hold_ms = min(hold_ms, deadline - limits["deadline_margin_ms"] - now)
    if hold_ms < 1:
        return None  # too close to its deadline to wait: let it run
    age_min = (now - data_ready_at) // 60000
    return {"task_id": candidate["task_id"], "hold_ms": int(hold_ms),
            "reason": f"input data is {age_min} min old: wait for a refresh"}


# ---- the test switches ----------------------------------------------------------------------

def unknown_ids_answer(request):
    return [{"task_id": f"never-sent-{i}", "reason": "invented"} for i in range(3)], [], []


def past_deadline_answer(request):
    limits = request["limits"]
    holds = []
    for candidate in request["candidates"]:
        hold_ms = min(86400000, max(limits["hold_max_ms"] * 2, 1))
        if candidate["deadline_ms"] is not None:
            hold_ms = min(86400000, max(hold_ms, candidate["deadline_ms"] - request["sent_at_ms"] + 60000))
        holds.append({"task_id": candidate["task_id"], "hold_ms": hold_ms, "reason": "past every bound"})
    return [], holds, []


# ---- HTTP ----------------------------------------------------------------------------------

def answer_document(request, order, holds, escalations):
    return {"schema": RESPONSE_SCHEMA, "consultation_id": request["consultation_id"],
            "agent": {"name": AGENT_NAME, "version": AGENT_VERSION},
            "order": order, "holds": holds, "escalations": escalations}


class Handler(BaseHTTPRequestHandler):
    server_version = "reference-agent/" + AGENT_VERSION
    protocol_version = "HTTP/1.1"  # keep-alive: backlogd reuses its connection

    def log_message(self, fmt, *args):
        if self.server.settings.verbose:
            sys.stderr.write("reference-agent: " + fmt % args + "\n")

    def send(self, status, body, content_type="application/json", extra=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def mode_of_path(self):
        first = self.path.strip("/").split("/")[0]
        return first if first in MODES else self.server.settings.mode

    def authorized(self):
        token = self.server.token
        return token is None or self.headers.get("Authorization", "") == "Bearer " + token

    def read_request(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length > MAX_REQUEST_BYTES:
            return None
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            return None
        if not isinstance(request, dict) or request.get("schema") != REQUEST_SCHEMA:
            return None
        return request

    def do_POST(self):
        if not self.authorized():
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            return self.send(401, '{"error": "a bearer token is required"}')
        request = self.read_request()
        if request is None:
            return self.send(400, '{"error": "not a backlogd.agent.request.v1 document"}')
        mode = self.mode_of_path()
        settings = self.server.settings
        if mode == "slow":
            time.sleep(settings.slow_ms / 1000)
        if mode == "error":
            return self.send(500, '{"error": "the model server is down"}')
        if mode == "redirect":
            return self.send(302, "", extra=[("Location", "/decide")])
        if mode == "garbage":
            return self.send(200, "<html><body>502 Bad Gateway</body></html>", "text/html")
        if mode == "huge":
            return self.send(200, b'{"order": [' + b" " * settings.huge_bytes + b"]}")
        if mode == "unknown-ids":
            parts = unknown_ids_answer(request)
        elif mode == "past-deadline":
            parts = past_deadline_answer(request)
        else:
            parts = decide(request, settings)
        self.send(200, json.dumps(answer_document(request, *parts)))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790, help="0: any free port, printed on stdout")
    parser.add_argument("--token-env", help="require 'Authorization: Bearer $VAR' (the variable's value)")
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--stale-after-ms", type=int, default=3600000, help="data older than this is stale")
    parser.add_argument("--hold-ms", type=int, default=600000, help="how long to hold a task with stale data")
    parser.add_argument("--deadline-soon-ms", type=int, default=900000, help="deadlines this near go first")
    parser.add_argument("--escalate-risk", type=float, default=0.8)
    parser.add_argument("--escalate-domains", default="remediation", help="comma-separated")
    parser.add_argument("--slow-ms", type=int, default=2000)
    parser.add_argument("--huge-bytes", type=int, default=10 << 20)
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    settings = parser.parse_args(argv)
    settings.escalate_domains = {d for d in settings.escalate_domains.split(",") if d}
    return settings


def main(argv=None):
    settings = parse_args(argv)
    token = None
    if settings.token_env:
        token = os.environ.get(settings.token_env)
        if not token:
            sys.exit(f"reference-agent: {settings.token_env} is not set")
    server = ThreadingHTTPServer((settings.host, settings.port), Handler)
    server.daemon_threads = True
    server.settings, server.token = settings, token
    print(f"reference-agent listening on http://{settings.host}:{server.server_address[1]}/decide", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
