"""The operator's commands and the separation of duties (SPEC §12, §15), against the real
broker: `backlogd approve` (through tasks.control) unblocks a task that waits for approval
and audit names who and why; the same APPROVED written to tasks.events is refused
(contract.violation in the DLQ, counted) and the task keeps waiting; `backlogd reject` ends
a task CANCELLED with its reason; `backlogd cancel` names its actor; `prioritize` changes a
task's business value with an UPDATED that says who."""
import json
import time
import uuid

from conftest_common import backlogd, backlogd_json
from kafka_tools import broker_env, unique_prefix
from pipeline import Backlogd, consume_all, produce_raw
from records import encode_event, read_dispatches, read_state, result, task_event, wait_for_states

HOUR_MS = 3_600_000
POLICY = {
    "name": "ops", "version": "1",
    "weights": {"business_value": 1.0},
    "defaults": {"approval_risk_threshold": 0.8},
}


def audit(env, task_id):
    result, out = backlogd_json("audit", task_id, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return out


def steps_of(out):
    return out if isinstance(out, list) else out["transitions"] if "transitions" in out else out["steps"]


def test_operators_commands_and_separation_of_duties(tmp_path):
    prefix = unique_prefix("control")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_GROUP_ID=prefix + "group",
                     BACKLOGD_INSTANCE_ID=f"{prefix}i-{uuid.uuid4().hex[:6]}", BACKLOGD_POLICY_FILE=str(policy))
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    assert prefix + "tasks.control" in created.stdout + created.stderr

    later = int(time.time() * 1000) + HOUR_MS
    tasks = [task_event("c-approve", risk=0.95, domain="evaluation"),
             task_event("c-refused", risk=0.95, domain="evaluation"),
             task_event("c-reject", risk=0.95, domain="evaluation"),
             task_event("c-cancel", not_before=later),
             task_event("c-value", not_before=later)]
    produce_raw(prefix + "tasks.events", [(t["task_id"], encode_event(t), None) for t in tasks])
    run = Backlogd(env)
    try:
        wait_for_states(prefix, {"c-approve": "BLOCKED", "c-refused": "BLOCKED", "c-reject": "BLOCKED",
                          "c-cancel": "BLOCKED", "c-value": "BLOCKED"})
        # APPROVED on tasks.events: refused, whoever wrote it
        forged = task_event("c-refused", "APPROVED")
        produce_raw(prefix + "tasks.events", [("c-refused", encode_event(forged), None)])
        letters = consume_all(prefix + "backlog.dlq", expected=1, timeout=30)
        assert len(letters) == 1
        headers = {k: v.decode() for k, v in letters[0].headers()}
        assert headers["dlq.reason"] == "contract.violation"
        assert headers["dlq.detail"] == (f"event_type: APPROVED is honoured only from {prefix}tasks.control, "
                                         f"not from {prefix}tasks.events")

        for command, task, extra in [("approve", "c-approve", ["--by", "alice", "--reason", "risk reviewed"]),
                                     ("reject", "c-reject", ["--by", "bob", "--reason", "too risky"]),
                                     ("cancel", "c-cancel", ["--by", "carol", "--reason", "superseded"]),
                                     ("prioritize", "c-value", ["--by", "dave", "--business-value", "0.9",
                                                                "--reason", "quarter end"])]:
            sent = backlogd(command, task, *extra, env=env)
            assert sent.returncode == 0, sent.stderr
            assert f"1 " in sent.stderr and prefix + "tasks.control" in sent.stderr
        wait_for_states(prefix, {"c-approve": "DISPATCHED", "c-refused": "BLOCKED", "c-reject": "CANCELLED",
                          "c-cancel": "CANCELLED", "c-value": "BLOCKED"})
        assert read_state(prefix, timeout=2)["c-value"]["business_value"] == 0.9
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])
    assert any("dlq.contract.violation=1" in line for line in run.lines), "the refusal is counted"

    # who asked is a field of its own (Transition v2 actor); the reason stays the operator's words
    for task, cause, actor, reason in [("c-approve", "APPROVED", "alice", "risk reviewed"),
                                       ("c-reject", "REJECTED", "bob", "too risky"),
                                       ("c-cancel", "CANCELLED", "carol", "superseded"),
                                       ("c-value", "UPDATED", "dave", "quarter end")]:
        steps = [s for s in steps_of(audit(env, task)) if s["cause"] == cause]
        assert steps, f"{task}: no {cause} step"
        assert (steps[0]["actor"], steps[0]["reason"]) == (actor, reason), steps[0]
    text = backlogd("audit", "c-approve", env=env)
    assert text.returncode == 0 and "cause APPROVED, by alice, reason risk reviewed" in text.stdout, text.stdout
    shown = backlogd("tasks", "show", "c-reject", env=env)
    assert shown.returncode == 0 and "cause REJECTED, by bob, reason too risky" in shown.stdout, shown.stdout
    shown, out = backlogd_json("tasks", "show", "c-reject", "--json", env=env)
    assert [(t["actor"], t["reason"]) for t in out["transitions"] if t["cause"] == "REJECTED"] == [("bob", "too risky")]
    verify = backlogd("replay", "--verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_cancel_of_a_running_task_notifies_its_worker():
    """SPEC §15: cancelling a RUNNING task writes, in the same transaction as its CANCELLED, a
    DispatchDecision of kind CANCEL on dispatch.<domain> with the task's key, attempt and dispatch_id."""
    prefix = unique_prefix("cancel")
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_GROUP_ID=prefix + "group",
                     BACKLOGD_INSTANCE_ID=f"{prefix}i-{uuid.uuid4().hex[:6]}")
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    produce_raw(prefix + "tasks.events", [("k-run", encode_event(task_event("k-run", domain="evaluation")), None)])
    run = Backlogd(env)
    try:
        wait_for_states(prefix, {"k-run": "DISPATCHED"})
        produce_raw(prefix + "tasks.results", [("k-run", encode_event(result("k-run", "STARTED", 1)), None)])
        wait_for_states(prefix, {"k-run": "RUNNING"})
        sent = backlogd("cancel", "k-run", "--by", "erin", "--reason", "input data withdrawn", env=env)
        assert sent.returncode == 0, sent.stderr
        wait_for_states(prefix, {"k-run": "CANCELLED"})
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])

    records = [r for r in read_dispatches(prefix, "evaluation", expected=2, timeout=30) if r["task_id"] == "k-run"]
    assert [r["kind"] for r in records] == ["DISPATCH", "CANCEL"], records
    dispatch, notice = records
    assert (notice["attempt"], notice["dispatch_id"]) == (dispatch["attempt"], dispatch["dispatch_id"]) == (1, "k-run/1")
    assert (notice["actor"], notice["cancel_reason"]) == ("erin", "input data withdrawn")
    assert (dispatch["actor"], dispatch["cancel_reason"]) == (None, None)
    steps = [s for s in steps_of(audit(env, "k-run")) if s["cause"] == "CANCELLED"]
    assert steps and (steps[0]["from"], steps[0]["to"], steps[0]["actor"]) == ("RUNNING", "CANCELLED", "erin")


def test_usage_errors_exit_2():
    assert backlogd("approve", "t1").returncode == 2  # no --reason
    assert backlogd("reject", "--reason", "x").returncode == 2  # no task
    assert backlogd("prioritize", "t1").returncode == 2
    assert backlogd("prioritize", "t1", "t2", "--business-value", "0.5").returncode == 2
    assert backlogd("prioritize", "t1", "--business-value", "1.5").returncode == 2
    assert backlogd("approve", "t1", "--reason", "x", "--deadline", "5").returncode == 2
