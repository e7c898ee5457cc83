"""`backlogd pilot report` against the real broker. First on what `backlogd
run` recorded with the reference agent governing half of a throttled domain:
the report splits every dispatch between the agent, the policy's fallbacks and
the control group as the records' decided_by say, its counts agree with the
run's own metrics split by decided_by (the same fold, live), and first
attempts completed by the workers count as successes. Then on Transition v2 records
written with fastavro (as `run` writes them in a domain with an agent: the
dispatch's decided_by and fallback, holds and escalations with cause agent)
into backlog.transitions, then the report read back as JSON and as text: the
agent's row, the pilot's fallbacks by reason and the control group, each with
tasks, dispatches, waits, deadline misses, first-attempt success and retries;
a domain without an agent left out; --domain and --since/--until; a record
that cannot be decoded counted and left out; the same topic gives the same
answer twice; usage errors stop before any Kafka handle."""
import io
import struct

import fastavro

import time

from conftest_common import backlogd, backlogd_json
from kafka_tools import broker_env, create_topic, unique_prefix
from pipeline import Backlogd, consume_all, produce_raw
from records import IDS, decode, result, task_event
from test_agents import AGENT_LABEL, Agent, Drain, all_in, environment, ids_in, wait_until, write_policy
from test_backlog import create_topics, report, submit
from test_operate import free_port, get, series

TRANSITION_V2 = 8  # schemas/ids.json
T0 = 1_800_000_000_000
PARTITIONS = 3


def test_pilot_report_of_a_run_with_the_reference_agent(tmp_path):
    prefix = unique_prefix("pilotrun")
    agent = Agent("--deadline-soon-ms", "3600000")
    policy = write_policy(tmp_path, prefix, {"evaluation": {
        "max_lag": 3, "resume_lag": 1,
        "agent": {"url": agent.url(), "pilot_share": 0.5, "timeout_ms": 3000, "max_candidates": 100}}})
    metrics_port = free_port()
    env = environment(prefix, policy, BACKLOGD_HTTP_PORT=metrics_port)
    create_topics(env)
    pilot, control = ids_in(0.5, "p", 10), ids_in(0.5, "c", 10, pilot=False)
    now = int(time.time() * 1000)
    run, drain = Backlogd(env), None
    try:
        run.wait_for("snapshots")
        ready_at = now + 2500
        submit(prefix, *[task_event(t, domain="evaluation", business_value=0.2 + i / 40, risk=0.1,
                                    deadline=now + 1_200_000 + i * 10_000, not_before=ready_at)
                         for i, t in enumerate(pilot + control)])
        drain = Drain(prefix, ["evaluation"], per_message_s=0.05)
        drain.start()
        wait_until("every task dispatched", all_in(prefix, pilot + control, "DISPATCHED"), timeout=60)
        report(prefix, *[result(t, "COMPLETED", 1) for t in pilot + control])
        wait_until("every task completed", all_in(prefix, pilot + control, "COMPLETED"), timeout=60)
        metrics = get(metrics_port, "/metrics")[1]
    finally:
        if drain:
            drain.close()
        code, _ = run.stop()
        agent.stop()
    assert code == 0, "\n".join(run.lines[-30:])

    recorded = [decode(m.value()) for m in consume_all(prefix + "dispatch.evaluation", expected=20, timeout=20)]
    by_whom = {}
    for decision in recorded:
        label = decision["decided_by"] if decision["decided_by"] != "policy" else \
            ("control" if decision["fallback"] == "control" else "policy")
        by_whom[label] = by_whom.get(label, 0) + 1
    assert by_whom.get(AGENT_LABEL, 0) > 0 and by_whom["control"] == 10, by_whom

    listed, out = backlogd_json("pilot", "report", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    groups = rows(out, "evaluation")
    assert {label: g["dispatches"] for label, g in groups.items()} == by_whom, (groups, by_whom)
    assert groups["control"]["tasks"] == 10 and groups["control"]["first_attempt_success_rate"] == 1.0
    assert groups[AGENT_LABEL]["group"] == "pilot" and groups[AGENT_LABEL]["first_attempt_successes"] > 0
    assert sum(g["first_attempts"] for g in groups.values()) == 20
    for label, group in groups.items():  # the run's metrics count what the report counts
        assert series(metrics, "backlogd_pilot_wait_seconds_count", domain="evaluation",
                      decided_by=label) == group["dispatches"], label
        assert series(metrics, "backlogd_pilot_first_attempts_total", domain="evaluation", decided_by=label,
                      outcome="completed") == group["first_attempt_successes"], label
    text = backlogd("pilot", "report", "--domain", "evaluation", env=env)
    assert f"domain evaluation: the pilot decided by {AGENT_LABEL} against its control group" in text.stdout


class History:
    """Transitions of hand-made tasks, in each task's order, as (key, value, headers) records."""

    def __init__(self):
        self.records, self.seq = [], {}

    def add(self, task, domain, from_state, to_state, cause, attempt, at, decided_by=None, fallback=None,
            deadline=None, awaiting_approval=False, reason=None):
        seq = self.seq[task] = self.seq.get(task, 0) + 1
        item = {"task_id": task, "state": to_state, "seq": seq, "attempt": attempt, "max_attempts": None,
                "task_type": "batch_inference", "domain": domain, "tenant": None, "sla_class": "standard",
                "business_value": 0.5, "risk": 0.1, "submitted_at": T0, "deadline": deadline, "not_before": None,
                "data_ready_at": None, "state_since": at, "ready_since": at if to_state == "READY" else None,
                "lease_expires_at": None, "retry_at": None, "depends_on": [], "pending_deps": [],
                "dependents": [], "approval_required": awaiting_approval, "approved": False, "labels": {},
                "payload": None, "traceparent": None, "last_error": None, "recent_event_ids": [],
                "terminal_at": None, "placeholder": False}
        record = {"task_id": task, "seq": seq, "from_state": from_state, "to_state": to_state, "cause": cause,
                  "reason": reason, "event_id": None, "attempt": attempt, "at": at, "occurred_at": None,
                  "dispatch_id": f"{task}/{attempt}" if to_state == "DISPATCHED" else None,
                  "policy": "value-first@1" if to_state == "DISPATCHED" else None, "score": None,
                  "source_topic": None, "source_partition": None, "source_offset": None, "instance": "pytest",
                  "rationale": [], "item": item, "actor": None, "decided_by": decided_by, "fallback": fallback,
                  "agent_rank": 1 if decided_by not in (None, "policy") else None, "agent_reason": None,
                  "consultation_id": "c-1" if decided_by else None,
                  "consultation_latency_ms": 5 if decided_by else None, "late": False, "probe": False}
        body = io.BytesIO()
        fastavro.schemaless_writer(body, IDS[TRANSITION_V2], record)
        self.records.append((task, b"\x00" + struct.pack(">I", TRANSITION_V2) + body.getvalue(), None))

    def attempt(self, task, domain, number, ready, dispatched, decided_by, fallback, end, end_at, deadline=None):
        self.add(task, domain, "RETRY_WAIT" if number > 1 else "QUEUED", "READY", "retry_due" if number > 1
                 else "SUBMITTED", number - 1, ready, deadline=deadline)
        self.add(task, domain, "READY", "DISPATCHED", "dispatch", number, dispatched, decided_by, fallback,
                 deadline=deadline)
        self.add(task, domain, "DISPATCHED", end, "COMPLETED" if end == "COMPLETED" else "FAILED", number, end_at,
                 deadline=deadline)


def history():
    h = History()
    for i in range(10):  # the agent: waits 100..1000 ms, one failure then a retry the agent also decided
        h.attempt(f"a{i}", "remediation", 1, T0, T0 + 100 * (i + 1), "triage@1.2", None,
                  "FAILED" if i == 9 else "COMPLETED", T0 + 5000)
    h.add("a9", "remediation", "FAILED", "RETRY_WAIT", "retry", 1, T0 + 5000)
    h.attempt("a9", "remediation", 2, T0 + 6000, T0 + 6050, "triage@1.2", None, "COMPLETED", T0 + 7000)
    h.attempt("p1", "remediation", 1, T0, T0 + 2000, "policy", "timeout", "COMPLETED", T0 + 3000)
    h.attempt("p2", "remediation", 1, T0, T0 + 2500, "policy", "breaker_open", "FAILED", T0 + 3000)
    h.attempt("c1", "remediation", 1, T0, T0 + 300, "policy", "control", "COMPLETED", T0 + 9000, deadline=T0 + 8000)
    h.attempt("c2", "remediation", 1, T0, T0 + 400, "policy", "control", "COMPLETED", T0 + 1000)
    h.add("e1", "remediation", "QUEUED", "READY", "SUBMITTED", 0, T0)
    # as `run` records them: reason escalation (the item awaits approval) or hold
    h.add("e1", "remediation", "READY", "BLOCKED", "agent", 0, T0 + 10, "triage@1.2", awaiting_approval=True,
          reason="escalation")
    h.add("e2", "remediation", "QUEUED", "READY", "SUBMITTED", 0, T0)
    h.add("e2", "remediation", "READY", "BLOCKED", "agent", 0, T0 + 10, "triage@1.2", reason="escalation")
    h.add("h1", "remediation", "QUEUED", "READY", "SUBMITTED", 0, T0, deadline=T0 + 4000)
    h.add("h1", "remediation", "READY", "BLOCKED", "agent", 0, T0 + 10, "triage@1.2", deadline=T0 + 4000,
          reason="hold")
    h.add("h1", "remediation", "BLOCKED", "EXPIRED", "deadline", 0, T0 + 4000, deadline=T0 + 4000)
    h.attempt("x1", "evaluation", 1, T0, T0 + 10, None, None, "COMPLETED", T0 + 20)  # no agent
    return h


def write_history(prefix):
    topic = prefix + "backlog.transitions"
    create_topic(topic, PARTITIONS)
    produce_raw(topic, history().records + [("garbage", b"not avro at all", None)])
    return broker_env(prefix)


def rows(report, domain="remediation"):
    domains = {d["domain"]: d for d in report["domains"]}
    return {g["decided_by"]: g for g in domains[domain]["groups"]}


def test_pilot_report_against_its_control_group():
    env = write_history(unique_prefix("pilot"))
    first, report = backlogd_json("pilot", "report", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert report["transitions"] == len(history().records) and report["unreadable"] == 1
    assert [d["domain"] for d in report["domains"]] == ["remediation"]  # evaluation has no agent
    groups = rows(report)
    assert list(groups) == ["triage@1.2", "policy", "control"]
    agent = groups["triage@1.2"]
    assert agent["group"] == "pilot" and agent["tasks"] == 10 and agent["dispatches"] == 11
    assert agent["retries"] == 1 and agent["first_attempts"] == 10 and agent["first_attempt_successes"] == 9
    assert agent["wait_p50_ms"] == 500 and agent["wait_p90_ms"] == 900
    assert agent["escalations"] == 2 and agent["holds"] == 1
    assert agent["deadline_misses"] == 1 and agent["expired"] == 1  # h1, held and expired
    fallback = groups["policy"]
    assert fallback["group"] == "fallback" and fallback["dispatches"] == 2
    assert fallback["fallbacks"]["timeout"] == 1 and fallback["fallbacks"]["breaker_open"] == 1
    assert fallback["first_attempt_success_rate"] == 0.5
    control = groups["control"]
    assert control["group"] == "control" and control["tasks"] == 2 and control["wait_p50_ms"] == 300
    assert control["deadline_misses"] == 1 and control["completed_late"] == 1
    assert control["first_attempt_success_rate"] == 1.0
    again = backlogd("pilot", "report", "--json", env=env)
    assert again.stdout == first.stdout

    text = backlogd("pilot", "report", env=env)
    assert text.returncode == 0, text.stderr
    assert "domain remediation: the pilot decided by triage@1.2 against its control group" in text.stdout
    assert "fallbacks of the pilot to the policy: 2 (timeout 1, breaker_open 1)" in text.stdout
    assert "left out: 1 transition that could not be read" in text.stdout
    line = next(row for row in text.stdout.splitlines() if row.strip().startswith("triage@1.2"))
    assert line.split()[1:4] == ["pilot", "10", "11"] and "9/10" in line, line
    assert "domain evaluation" not in text.stdout


def test_domain_and_window():
    env = write_history(unique_prefix("pilotw"))
    _, other = backlogd_json("pilot", "report", "--json", "--domain", "evaluation", env=env)
    assert other["domains"] == []
    text = backlogd("pilot", "report", "--domain", "evaluation", env=env)
    assert "domain evaluation: no decision recorded decided_by" in text.stdout
    # only the retry of a9 and what ended after T0 + 5500
    _, late = backlogd_json("pilot", "report", "--json", "--since", str(T0 + 5500), env=env)
    agent = rows(late)["triage@1.2"]
    assert agent["dispatches"] == 1 and agent["retries"] == 1 and agent["wait_p50_ms"] == 50
    assert rows(late)["control"]["completed_late"] == 1 and rows(late)["control"]["dispatches"] == 0
    _, early = backlogd_json("pilot", "report", "--json", "--until", "2027-01-15T08:00:00.050Z", env=env)
    assert early["until"] == "2027-01-15T08:00:00.050Z"  # before the first dispatch: the hold and escalation
    agent = rows(early)["triage@1.2"]
    assert agent["dispatches"] == 0 and agent["holds"] == 1 and agent["escalations"] == 2


def test_usage_errors_stop_before_kafka():
    env = broker_env(unique_prefix("pilotu"), BACKLOGD_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    for args in [("pilot",), ("pilot", "show"), ("pilot", "report", "extra"), ("pilot", "report", "--since", "x"),
                 ("pilot", "report", "--since", "2h", "--until", "3h"), ("pilot", "report", "--domain", "")]:
        result = backlogd(*args, env=env, timeout=10)
        assert result.returncode == 2 and result.stdout == "", args
