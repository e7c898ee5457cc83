"""What a deadline passed before dispatch does (SPEC §14, the policy's on_deadline), against the real
broker: in a domain with dispatch_late the task is dispatched all the same, its decision marked late;
with escalate it waits BLOCKED with an escalation record (cause deadline, reason "escalated: ...") until
`backlogd approve` lets it go, late; with expire (the default) it ends EXPIRED in the DLQ. Each task
depends on a gate task that its worker completes only after the deadlines passed, so that nothing can
dispatch them before."""
import json
import time
import uuid

from conftest_common import backlogd, backlogd_json
from kafka_tools import broker_env, unique_prefix
from pipeline import Backlogd, consume_all
from records import read_dispatches, result, task_event, wait_for_states
from test_backlog import create_topics, report, submit

POLICY = {
    "name": "deadlines", "version": "1",
    "weights": {"business_value": 1.0, "sla_urgency": 1.0, "deadline_risk": 2.0},
    "domains": {
        "evaluation": {"on_deadline": "dispatch_late"},
        "remediation": {"on_deadline": "escalate"},
        "data_preparation": {"on_deadline": "expire"},
    },
}


def transitions_of(env, task_id):
    result, out = backlogd_json("audit", task_id, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return out if isinstance(out, list) else out["transitions"]


def test_dispatch_late_escalate_and_expire(tmp_path):
    prefix = unique_prefix("deadlines")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    checked = backlogd("policy", "check", str(policy))
    assert checked.returncode == 0, checked.stderr
    assert "dispatch_late" in checked.stdout and "escalate" in checked.stdout
    assert "deadline_risk" in checked.stdout
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_GROUP_ID=prefix + "group",
                     BACKLOGD_INSTANCE_ID=f"{prefix}i-{uuid.uuid4().hex[:6]}", BACKLOGD_POLICY_FILE=str(policy),
                     BACKLOGD_BACKLOG_LEASE_MS=600000)
    create_topics(env)
    deadline = int(time.time() * 1000) + 3000
    submit(prefix, task_event("gate"),
           *[task_event(task_id, domain=domain, task_type="check", deadline=deadline, depends_on=["gate"])
             for task_id, domain in [("d-late", "evaluation"), ("d-escalate", "remediation"),
                                     ("d-expire", "data_preparation")]])
    run = Backlogd(env)
    try:
        wait_for_states(prefix, {"gate": "DISPATCHED", "d-late": "BLOCKED", "d-escalate": "BLOCKED", "d-expire": "EXPIRED"})
        report(prefix, result("gate", "STARTED", 1), result("gate", "COMPLETED", 1))
        wait_for_states(prefix, {"gate": "COMPLETED", "d-late": "DISPATCHED", "d-escalate": "BLOCKED"})
        late = [d for d in read_dispatches(prefix, "evaluation", expected=1) if d["task_id"] == "d-late"]
        assert len(late) == 1 and late[0]["late"] is True, late
        assert "deadline_risk" in json.dumps(late[0]), "the rationale names every criterion"
        escalation = [t for t in transitions_of(env, "d-escalate") if t["cause"] == "deadline"]
        assert len(escalation) == 1, escalation
        assert escalation[0]["reason"].startswith("escalated: deadline ")
        assert "awaiting approval" in escalation[0]["reason"]
        assert read_dispatches(prefix, "remediation", timeout=2) == []

        approved = backlogd("approve", "d-escalate", "--by", "alice", "--reason", "late is fine", env=env)
        assert approved.returncode == 0, approved.stderr
        wait_for_states(prefix, {"d-escalate": "DISPATCHED"})
        dispatched = read_dispatches(prefix, "remediation", expected=1)
        assert len(dispatched) == 1 and dispatched[0]["late"] is True, dispatched
        letters = consume_all(prefix + "backlog.dlq", expected=1, timeout=10)
        assert [m.key().decode() for m in letters] == ["d-expire"]
        assert dict(letters[0].headers())["dlq.reason"] == b"deadline.expired"
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])
    steps = transitions_of(env, "d-late")
    out = [t for t in steps if t["cause"] == "dispatch"]
    assert len(out) == 1 and out[0]["reason"] == "late", steps


def test_capacity_estimate_in_metrics_and_inspect():
    """A worker that runs each task about 200 ms: the estimate becomes known, /metrics and `inspect` show it."""
    from test_operate import free_port, get, series

    prefix = unique_prefix("capacity")
    port = free_port()
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_GROUP_ID=prefix + "group",
                     BACKLOGD_INSTANCE_ID=f"{prefix}i-{uuid.uuid4().hex[:6]}", BACKLOGD_HTTP_PORT=port,
                     BACKLOGD_HTTP_ADDRESS="127.0.0.1", BACKLOGD_CAPACITY_MIN_SAMPLES=5,
                     BACKLOGD_BACKLOG_LEASE_MS=600000)
    create_topics(env)
    tasks = [f"c-{i}" for i in range(8)]
    submit(prefix, *[task_event(t, domain="evaluation", task_type="score") for t in tasks])
    run = Backlogd(env)
    try:
        wait_for_states(prefix, {t: "DISPATCHED" for t in tasks})
        for t in tasks:  # one worker, one task after the other
            report(prefix, result(t, "STARTED", 1))
            time.sleep(0.2)
            report(prefix, result(t, "COMPLETED", 1))
        wait_for_states(prefix, {t: "COMPLETED" for t in tasks})
        submit(prefix, *[task_event(f"w-{i}", domain="evaluation", task_type="score") for i in range(3)])
        wait_for_states(prefix, {f"w-{i}": "DISPATCHED" for i in range(3)})
        time.sleep(2.5)  # the gauges follow the census, once a second
        status, text = get(port, "/metrics")
        assert status == 200
        assert series(text, "backlogd_capacity_known", domain="evaluation") == 1
        assert series(text, "backlogd_capacity_throughput_per_second", domain="evaluation") > 0
        runtime = series(text, "backlogd_capacity_runtime_seconds", domain="evaluation")
        assert 0.15 < runtime < 1.0, runtime
        assert series(text, "backlogd_capacity_drain_seconds", domain="evaluation") > 0
        assert series(text, "backlogd_capacity_known", domain="remediation") == 0
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])
    inspected, out = backlogd_json("inspect", "--json", env=env)
    assert inspected.returncode == 0, inspected.stderr
    estimate = out["capacity"]["evaluation"]
    assert estimate["known"] is True and estimate["results"] == 8, estimate
    assert estimate["in_flight"] == 3 and estimate["ready"] == 0
    assert 150 < estimate["runtime_ms"] < 1000 and estimate["drain_ms"] > 0
    text = backlogd("inspect", env=env)
    assert text.returncode == 0 and "CAPACITY" in text.stdout and "evaluation: " in text.stdout, text.stdout
