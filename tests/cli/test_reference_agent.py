"""The reference agent (examples/agents/reference_agent.py) as a separate
process, as backlogd meets it: its answers validate against response-v1 and
stay within the limits it is sent; its heuristic holds tasks with stale data
(within max_held_share and never past a deadline minus the margin), escalates
risky remediation and puts deadline-near tasks first; it checks the bearer
token; and its test switches (slow, error, redirect, garbage, huge,
unknown-ids, past-deadline) behave as docs/agents.md says."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jsonschema
import pytest

from conftest_common import SOURCE_DIR

AGENT = SOURCE_DIR / "examples" / "agents" / "reference_agent.py"
RESPONSE_SCHEMA = jsonschema.Draft202012Validator(json.loads((SOURCE_DIR / "schemas" / "agent" /
                                                              "response-v1.json").read_text()))
NOW = 1_700_000_000_000
MINUTE = 60_000


def start_agent(*args, env=None):
    process = subprocess.Popen([sys.executable, str(AGENT), "--port", "0", "--slow-ms", "1500",
                                "--huge-bytes", str(10 << 20), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    assert "listening on http://" in line, process.stderr.read()
    return process, line.split("listening on ")[1].strip().rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def agent():
    process, base = start_agent()
    yield base
    process.terminate()
    process.wait(timeout=10)


def candidate(task_id, risk=0.1, deadline=None, data_ready_at=None):
    return {"task_id": task_id, "attempt": 1, "max_attempts": 3, "task_type": "t", "tenant": None,
            "business_value": 0.5, "risk": risk, "deadline_ms": deadline, "data_ready_at_ms": data_ready_at,
            "ready_since_ms": NOW - MINUTE, "labels": {}, "score": 1.0, "policy": "p@1", "rationale": []}


def request(domain, candidates, **limits):
    base = {"timeout_ms": 500, "hold_max_ms": 30 * MINUTE, "max_held_share": 0.5, "deadline_margin_ms": MINUTE,
            "max_response_bytes": 1 << 20}
    base.update(limits)
    return {"schema": "backlogd.agent.request.v1", "consultation_id": "c-7", "domain": domain,
            "sent_at_ms": NOW, "limits": base, "context": {"credit": 10, "throttled": False},
            "candidates": candidates}


def post(url, document, headers=None, timeout=10):
    data = json.dumps(document).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def test_the_heuristic(agent):
    doc = request("remediation", [
        candidate("risky", risk=0.95),
        candidate("stale", data_ready_at=NOW - 3 * 3600_000),
        candidate("stale-near-deadline", data_ready_at=NOW - 3 * 3600_000, deadline=NOW + MINUTE + 500),
        candidate("due-in-5-min", deadline=NOW + 5 * MINUTE),
        candidate("due-in-2-min", deadline=NOW + 2 * MINUTE),
        candidate("relaxed", deadline=NOW + 10 * 3600_000),
    ])
    status, body = post(agent + "/decide", doc)
    assert status == 200
    answer = json.loads(body)
    RESPONSE_SCHEMA.validate(answer)
    assert answer["consultation_id"] == "c-7"
    assert answer["agent"] == {"name": "reference-agent", "version": "1.0.0"}
    assert [e["task_id"] for e in answer["escalations"]] == ["risky"]
    holds = {h["task_id"]: h for h in answer["holds"]}
    assert holds["stale"]["hold_ms"] == 10 * MINUTE
    # held only up to its deadline minus the margin: 500 ms
    assert holds["stale-near-deadline"]["hold_ms"] == 500
    assert [p["task_id"] for p in answer["order"]] == ["due-in-2-min", "due-in-5-min"]


def test_it_stays_within_the_limits_it_is_sent(agent):
    stale = [candidate(f"s{i}", data_ready_at=NOW - 5 * 3600_000) for i in range(10)]
    status, body = post(agent + "/decide", request("evaluation", stale, max_held_share=0.3, hold_max_ms=MINUTE))
    answer = json.loads(body)
    RESPONSE_SCHEMA.validate(answer)
    assert len(answer["holds"]) == 3  # floor(0.3 x 10)
    assert all(h["hold_ms"] <= MINUTE for h in answer["holds"])
    assert answer["escalations"] == []  # evaluation is not escalated


def test_a_request_that_is_not_one_is_refused(agent):
    status, _ = post(agent + "/decide", {"schema": "something else"})
    assert status == 400


def test_the_bearer_token():
    env = dict(os.environ, REFERENCE_AGENT_TEST_TOKEN="tok-9")
    process, base = start_agent("--token-env", "REFERENCE_AGENT_TEST_TOKEN", env=env)
    try:
        doc = request("evaluation", [candidate("a")])
        assert post(base + "/decide", doc)[0] == 401
        assert post(base + "/decide", doc, {"Authorization": "Bearer nope"})[0] == 401
        status, body = post(base + "/decide", doc, {"Authorization": "Bearer tok-9"})
        assert status == 200
        RESPONSE_SCHEMA.validate(json.loads(body))
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_switches(agent):
    doc = request("evaluation", [candidate("a", deadline=NOW + MINUTE), candidate("b", deadline=NOW + 2 * MINUTE)])
    started = time.monotonic()
    status, body = post(agent + "/slow/decide", doc)
    assert status == 200 and time.monotonic() - started >= 1.4
    RESPONSE_SCHEMA.validate(json.loads(body))
    assert post(agent + "/error/decide", doc)[0] == 500
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(urllib.request.Request(agent + "/redirect/decide", data=json.dumps(doc).encode(),
                                           method="POST"), timeout=10)
    assert redirect.value.code == 302
    status, body = post(agent + "/garbage/decide", doc)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)
    status, body = post(agent + "/huge/decide", doc)
    assert status == 200 and len(body) > 10 << 20
    status, body = post(agent + "/unknown-ids/decide", doc)
    answer = json.loads(body)
    RESPONSE_SCHEMA.validate(answer)  # valid, and still refused by the guardrails: never sent
    assert {p["task_id"] for p in answer["order"]}.isdisjoint({"a", "b"})
    status, body = post(agent + "/past-deadline/decide", doc)
    answer = json.loads(body)
    RESPONSE_SCHEMA.validate(answer)
    for hold in answer["holds"]:
        sent = next(c for c in doc["candidates"] if c["task_id"] == hold["task_id"])
        assert hold["hold_ms"] > doc["limits"]["hold_max_ms"] or \
            NOW + hold["hold_ms"] > sent["deadline_ms"] - doc["limits"]["deadline_margin_ms"]


def test_the_docs_request_example_gets_a_valid_answer(agent):
    import re
    text = (SOURCE_DIR / "docs" / "agents.md").read_text()
    example = re.search(r"<!-- request example -->\s*```json\n(.*?)```", text, re.S).group(1)
    status, body = post(agent + "/decide", json.loads(example))
    assert status == 200
    RESPONSE_SCHEMA.validate(json.loads(body))
