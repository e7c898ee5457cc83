"""Agents within guardrails (SPEC §13) against the real broker, with the reference agent
(examples/agents/reference_agent.py) as a separate process:

- the pilot follows the agent's order within the guardrails while the control group
  follows the policy; an escalated task waits BLOCKED for an APPROVED sent with `backlogd
  approve`; a held task is listed by `tasks list --waiting-for agent` and comes back by
  itself; audit shows who decided; replay --verify rebuilds it all without the agent;
- an agent that sleeps past timeout_ms leaves its domain's dispatch rate within 10 % of a
  domain without an agent; its breaker opens, and closes once the agent answers again;
  kill -9 while consultations are out loses nothing, and replay --verify passes;
- agents that answer 500, garbage, a 10 MB body, ids they were not sent or holds past a
  deadline are counted (by outcome, or refusals by reason) while every task is dispatched.
"""
import json
import os
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer

from conftest_common import SOURCE_DIR, backlogd, backlogd_json
from kafka_tools import BOOTSTRAP, broker_env, unique_prefix
from pipeline import Backlogd, consume_all
from records import decode, read_state, task_event
from test_backlog import create_topics, submit
from test_operate import free_port, get, series

AGENT_SCRIPT = SOURCE_DIR / "examples" / "agents" / "reference_agent.py"
AGENT_LABEL = "reference-agent@1.0.0"
MINUTE_MS = 60_000
FALLBACKS = {"control", "timeout", "breaker_open", "failed", "not_answered", "not_in_answer", "refused"}


def pilot_point(task_id):
    """docs/agents.md: where a task falls for the pilot split."""
    mask = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in task_id.encode():
        h = ((h ^ b) * 0x100000001b3) & mask
    h ^= 0x9e3779b97f4a7c15
    h ^= h >> 30
    h = (h * 0xbf58476d1ce4e5b9) & mask
    h ^= h >> 27
    h = (h * 0x94d049bb133111eb) & mask
    h ^= h >> 31
    return (h >> 11) / 2 ** 53


def ids_in(share, prefix, count, pilot=True):
    """`count` task ids starting with `prefix` that are (or are not) in a pilot of `share`."""
    found, i = [], 0
    while len(found) < count:
        task_id = f"{prefix}{i:03d}"
        if (pilot_point(task_id) < share) == pilot:
            found.append(task_id)
        i += 1
    return found


class Agent:
    """The reference agent, a process of its own on 127.0.0.1."""

    def __init__(self, *args, port=0):
        self.process = subprocess.Popen([sys.executable, str(AGENT_SCRIPT), "--port", str(port), *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        assert "listening on" in line, line
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])

    def url(self, mode=""):
        return f"http://127.0.0.1:{self.port}/{mode + '/' if mode else ''}decide"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class Drain(threading.Thread):
    """The domains' workers: read each dispatch topic (read_committed) and commit every record."""

    def __init__(self, prefix, domains, per_message_s=0.0):
        super().__init__(daemon=True)
        self.prefix, self.per_message_s = prefix, per_message_s
        self.decisions, self.stopping = [], threading.Event()
        self.consumers = [Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"{prefix}{domain}-workers",
                                    "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                    "isolation.level": "read_committed"}) for domain in domains]
        for consumer, domain in zip(self.consumers, domains):
            consumer.subscribe([f"{prefix}dispatch.{domain}"])

    def run(self):
        while not self.stopping.is_set():
            for consumer in self.consumers:
                message = consumer.poll(0.05)
                if message is not None and not message.error():
                    self.decisions.append((time.monotonic(), decode(message.value())))
                    consumer.commit(message=message, asynchronous=False)
                    time.sleep(self.per_message_s)

    def close(self):
        self.stopping.set()
        self.join(timeout=10)
        for consumer in self.consumers:
            consumer.close()


def write_policy(tmp_path, prefix, domains):
    """A policy by business value alone; `domains` maps each domain to its settings."""
    policy = {"name": "agents", "version": "1", "weights": {"business_value": 1.0},
              "defaults": {"worker_group": prefix + "{domain}-workers", "max_lag": 1000, "resume_lag": 500},
              "domains": domains}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return path


def environment(prefix, policy, **overrides):
    return broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=1, BACKLOGD_GROUP_ID=prefix + "group",
                      BACKLOGD_INSTANCE_ID="agents", BACKLOGD_POLICY_FILE=str(policy), **overrides)


def states(prefix, task_ids):
    held = read_state(prefix, timeout=2)
    return {t: held[t]["state"] if t in held else None for t in task_ids}


def wait_until(what, check, timeout=40, every=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(every)


def all_in(prefix, task_ids, state):
    return lambda: all(s == state for s in states(prefix, task_ids).values())


def steps(env, task_id):
    result, out = backlogd_json("audit", task_id, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return out if isinstance(out, list) else out.get("transitions", out.get("steps"))


def replay_verifies(env):
    verify = backlogd("replay", "--verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_pilot_follows_the_agent_control_the_policy_and_escalations_wait(tmp_path):
    prefix = unique_prefix("agents")
    agent = Agent("--escalate-domains", "evaluation", "--escalate-risk", "0.9", "--stale-after-ms", "60000",
                  "--hold-ms", "6000", "--deadline-soon-ms", str(60 * MINUTE_MS))
    policy = write_policy(tmp_path, prefix, {"evaluation": {
        "max_lag": 3, "resume_lag": 1,
        "agent": {"url": agent.url(), "pilot_share": 0.5, "timeout_ms": 3000, "max_candidates": 100}}})
    env = environment(prefix, policy)
    create_topics(env)
    now = int(time.time() * 1000)
    pilot, control = ids_in(0.5, "p", 12), ids_in(0.5, "c", 12, pilot=False)
    escalated, stale = ids_in(0.5, "risky", 2), ids_in(0.5, "stale", 1)[0]
    ordinary = pilot + control

    def ordinary_task(task_id, rank, not_before):
        # the policy wants the highest value first; the agent the earliest deadline, the lowest value here
        return task_event(task_id, domain="evaluation", business_value=0.2 + rank / 40, risk=0.1,
                          deadline=now + 20 * MINUTE_MS + rank * 10_000, not_before=not_before)

    run = Backlogd(env)
    drain = None
    try:
        run.wait_for("snapshots")
        ready_at = int(time.time() * 1000) + 2500  # all READY at once, in one round
        submit(prefix, *[ordinary_task(t, i, ready_at) for i, t in enumerate(pilot)],
               *[ordinary_task(t, i, ready_at) for i, t in enumerate(control)],
               *[task_event(t, domain="evaluation", business_value=0.3, risk=0.95, not_before=ready_at)
                 for t in escalated],
               task_event(stale, domain="evaluation", business_value=0.1, risk=0.1, not_before=ready_at,
                          data_ready_at=now - 60 * MINUTE_MS))
        def marked():
            held = read_state(prefix, timeout=2)
            return (all("backlogd.agent.escalation" in held.get(t, {}).get("labels", {}) for t in escalated)
                    and held.get(stale, {}).get("labels", {}).get("backlogd.agent.hold") == AGENT_LABEL)
        wait_until("the escalations and the hold, marked as the agent's", marked, timeout=30)
        assert set(states(prefix, escalated + [stale]).values()) == {"BLOCKED"}
        listed = backlogd("tasks", "list", "--waiting-for", "agent", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        assert stale in listed.stdout and escalated[0] not in listed.stdout, listed.stdout
        drain = Drain(prefix, ["evaluation"], per_message_s=0.05)
        drain.start()
        wait_until("every ordinary task and the held one dispatched",
                   all_in(prefix, ordinary + [stale], "DISPATCHED"), timeout=60)
        assert set(states(prefix, escalated).values()) == {"BLOCKED"}, "escalations wait for a human"
        approved = backlogd("approve", escalated[0], "--by", "alice", "--reason", "looked at it", env=env)
        assert approved.returncode == 0, approved.stderr
        wait_until("the approved escalation dispatched", all_in(prefix, escalated[:1], "DISPATCHED"))
        assert states(prefix, escalated[1:]) == {escalated[1]: "BLOCKED"}
    finally:
        if drain:
            drain.close()
        code, _ = run.stop()
        agent.stop()
    assert code == 0, "\n".join(run.lines[-30:])

    order = [decode(m.value()) for m in consume_all(prefix + "dispatch.evaluation", expected=26, timeout=20)]
    assert sorted(d["task_id"] for d in order) == sorted(ordinary + [stale, escalated[0]]), \
        [d["task_id"] for d in order]
    # the control group: the policy alone, highest value first
    controlled = [d for d in order if d["task_id"] in control]
    assert all(d["decided_by"] == "policy" and d["fallback"] == "control" for d in controlled)
    values = [d["score"] for d in controlled]
    assert values == sorted(values, reverse=True), values
    # the pilot: the agent's order (earliest deadline first) within each consultation, with its provenance
    by_agent = [d for d in order if d["decided_by"] == AGENT_LABEL]
    assert len(by_agent) >= 6, [(d["task_id"], d["decided_by"], d["fallback"]) for d in order]
    assert all(d["task_id"] in pilot + [stale] + escalated for d in by_agent)
    for consultation in {d["consultation_id"] for d in by_agent}:
        picks = [d for d in by_agent if d["consultation_id"] == consultation]
        assert [d["agent_rank"] for d in picks] == sorted(d["agent_rank"] for d in picks)
        assert [d["deadline"] for d in picks] == sorted(d["deadline"] for d in picks)
        assert all(d["agent_reason"].startswith("deadline in") and d["consultation_latency_ms"] >= 0
                   for d in picks)
    for d in order:
        assert d["task_id"] in control or d["decided_by"] in (AGENT_LABEL, "policy")
        assert d["decided_by"] == AGENT_LABEL or d["fallback"] in FALLBACKS
    # the hold and the escalation are transitions with cause agent; audit says who and why
    held = steps(env, stale)
    assert [(s["cause"], s["reason"]) for s in held if s["cause"] in ("agent", "hold_ended")] == \
        [("agent", "hold"), ("hold_ended", "agent")]
    hold = next(s for s in held if s["cause"] == "agent")
    assert hold["provenance"]["decided_by"] == AGENT_LABEL and "input data" in hold["provenance"]["agent_reason"]
    escalation = next(s for s in steps(env, escalated[0]) if s["cause"] == "agent")
    assert escalation["to"] == "BLOCKED" and escalation["reason"] == "escalation"
    assert "risk 0.95" in escalation["provenance"]["agent_reason"]
    assert escalation["provenance"]["consultation_id"]
    text = backlogd("audit", by_agent[0]["task_id"], env=env)
    assert f"decided by {AGENT_LABEL}, rank " in text.stdout and "consultation " in text.stdout, text.stdout
    replay_verifies(env)


def test_slow_agent_keeps_the_rate_its_breaker_opens_and_closes_and_kill_9_loses_nothing(tmp_path):
    prefix = unique_prefix("slowagent")
    agent = Agent("--mode", "slow", "--slow-ms", "2000")
    port = agent.port
    limits = {"max_lag": 10, "resume_lag": 5}
    policy = write_policy(tmp_path, prefix, {
        "evaluation": dict(limits, agent={"url": agent.url(), "pilot_share": 1.0, "timeout_ms": 400,
                                          "breaker_failures": 3, "breaker_cooldown_ms": 1000}),
        "model_inference": dict(limits)})
    metrics_port = free_port()
    env = environment(prefix, policy, BACKLOGD_HTTP_PORT=metrics_port)
    create_topics(env)
    per_domain = 150
    tasks = [task_event(f"{domain[0]}{i:04d}", domain=domain, business_value=(i % 10) / 10)
             for i in range(per_domain) for domain in ("evaluation", "model_inference")]
    run = Backlogd(env)
    drain = Drain(prefix, ["evaluation", "model_inference"])
    try:
        run.wait_for("snapshots")
        submit(prefix, *tasks)
        drain.start()
        run.wait_for(r"agent's breaker closed -> open", timeout=30)
        window = time.monotonic() + 6
        while time.monotonic() < window:
            time.sleep(0.2)
        counts = {domain: sum(1 for _, d in drain.decisions if d["domain"] == domain)
                  for domain in ("evaluation", "model_inference")}
        print("dispatched in the window:", counts)
        assert counts["model_inference"] > 30, counts
        assert abs(counts["evaluation"] - counts["model_inference"]) <= 0.1 * counts["model_inference"], counts
        _, text = get(metrics_port, "/metrics")
        assert series(text, "backlogd_agent_consultations_total", domain="evaluation", outcome="timeout") >= 3
        assert series(text, "backlogd_agent_breaker_state", domain="evaluation") in (1, 2)
        fallbacks = {d["fallback"] for _, d in drain.decisions if d["domain"] == "evaluation"}
        assert "breaker_open" in fallbacks and fallbacks <= {"not_answered", "timeout", "breaker_open"}, fallbacks
        assert {d["fallback"] for _, d in drain.decisions if d["domain"] == "model_inference"} == {None}

        # the agent answers again: with pilot tasks waiting, the next trial closes the breaker
        agent.stop()
        agent = Agent(port=port)
        soon = int(time.time() * 1000) + 10 * MINUTE_MS  # the reference agent puts near deadlines first
        more = [task_event(f"k{i:04d}", domain="evaluation", business_value=0.5, deadline=soon + i * 1000)
                for i in range(200)]
        submit(prefix, *more)
        run.wait_for(r"agent's breaker half_open -> closed", timeout=30)
        _, text = get(metrics_port, "/metrics")
        assert series(text, "backlogd_agent_breaker_state", domain="evaluation") == 0
        # then kill -9 while it is consulted
        answered = series(text, "backlogd_agent_consultations_total", domain="evaluation", outcome="answered") or 0
        wait_until("consultations answered while the new tasks flow", lambda: (series(
            get(metrics_port, "/metrics")[1], "backlogd_agent_consultations_total", domain="evaluation",
            outcome="answered") or 0) >= answered + 2, timeout=20, every=0.1)
        run.kill()  # kill -9 with consultations out and answers waiting
        again = Backlogd(env)
        try:
            again.wait_for("snapshots")
            total = 2 * per_domain + len(more)
            everything = [t["task_id"] for t in tasks + more]
            wait_until("every task dispatched after the kill", all_in(prefix, everything, "DISPATCHED"), timeout=60)
        finally:
            code, _ = again.stop()
        assert code == 0, "\n".join(again.lines[-30:])
    finally:
        drain.close()
        run.kill()
        agent.stop()
    dispatched = [decode(m.value()) for domain in ("evaluation", "model_inference")
                  for m in consume_all(f"{prefix}dispatch.{domain}", expected=1, timeout=10)]
    pairs = [(d["task_id"], d["attempt"]) for d in dispatched]
    assert len(pairs) == len(set(pairs)) == total, "each task dispatched once, none lost"
    by_agent = [d for d in dispatched if d["decided_by"] == AGENT_LABEL]
    assert by_agent, "the agent decided once it answered again"
    replay_verifies(env)


def test_bad_answers_are_counted_and_nothing_stalls(tmp_path):
    prefix = unique_prefix("badagents")
    agent = Agent("--huge-bytes", str(10 << 20))
    modes = {"d-error": "error", "d-garbage": "garbage", "d-huge": "huge", "d-unknown": "unknown-ids",
             "d-late": "past-deadline"}
    domains = {domain: {"max_lag": 3, "resume_lag": 1,
                        "agent": {"url": agent.url(mode), "pilot_share": 1.0, "timeout_ms": 2000,
                                  "hold_max_ms": 86_400_000, "breaker_failures": 1000}}
               for domain, mode in modes.items()}
    metrics_port = free_port()
    env = environment(prefix, write_policy(tmp_path, prefix, domains), BACKLOGD_HTTP_PORT=metrics_port,
                      BACKLOGD_DOMAINS=",".join(modes))
    create_topics(env)
    now = int(time.time() * 1000)
    tasks = [task_event(f"{domain}-{i:02d}", domain=domain, business_value=i / 20,
                        deadline=now + 30 * MINUTE_MS) for domain in modes for i in range(20)]
    run = Backlogd(env)
    drain = Drain(prefix, list(modes), per_message_s=0.01)
    try:
        run.wait_for("snapshots")
        submit(prefix, *tasks)
        drain.start()
        wait_until("every task dispatched", all_in(prefix, [t["task_id"] for t in tasks], "DISPATCHED"),
                   timeout=60)
        _, text = get(metrics_port, "/metrics")
    finally:
        drain.close()
        code, _ = run.stop()
        agent.stop()
    assert code == 0, "\n".join(run.lines[-30:])
    count = lambda name, **labels: series(text, name, **labels) or 0  # noqa: E731
    assert count("backlogd_agent_consultations_total", domain="d-error", outcome="http_error") >= 1
    assert count("backlogd_agent_consultations_total", domain="d-garbage", outcome="malformed") >= 1
    assert count("backlogd_agent_consultations_total", domain="d-huge", outcome="too_large") >= 1
    assert count("backlogd_agent_refusals_total", domain="d-unknown", part="order", reason="not_sent") >= 3
    assert count("backlogd_agent_refusals_total", domain="d-late", part="hold", reason="hold_past_deadline") >= 1
    assert count("backlogd_agent_consultation_seconds_count", domain="d-huge") >= 1
    decisions = [decode(m.value()) for domain in modes
                 for m in consume_all(f"{prefix}dispatch.{domain}", expected=1, timeout=10)]
    assert len(decisions) == len(tasks)
    assert all(d["decided_by"] == "policy" and d["fallback"] in FALLBACKS - {"control"} for d in decisions)
    assert {d["fallback"] for d in decisions if d["domain"] == "d-error"} <= {"failed", "not_answered"}
    replay_verifies(env)
