"""The backlog of `backlogd run` against the real broker: a task's whole life
driven by results written as a worker writes them, restore on restart, two
instances splitting the partitions with a dependency between them, a
kill -9 in the middle of a stream with exactly-once dispatch, and batches the
broker refuses, aborted and run again."""
import signal
import time

import pytest

from conftest_common import backlogd
from kafka_tools import broker_env, kafka_tool, unique_prefix
from pipeline import Backlogd, consume_all, produce_raw
from records import decode, decode_transitions, encode_event, read_dispatches, read_state, result, task_event, wait_for_all

DOMAIN = "model_inference"


def environment(prefix, instance="i1", **overrides):
    settings = dict(BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_GROUP_ID=prefix + "group", BACKLOGD_INSTANCE_ID=instance,
                    BACKLOGD_BACKLOG_RETRY_BASE_MS=200, BACKLOGD_BACKLOG_RETRY_CAP_MS=400,
                    BACKLOGD_BACKLOG_LEASE_MS=60000)
    settings.update(overrides)
    return broker_env(prefix, **settings)


def create_topics(env):
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr


def submit(prefix, *events):
    produce_raw(prefix + "tasks.events", [(e["task_id"], encode_event(e), None) for e in events])


def report(prefix, *events):
    produce_raw(prefix + "tasks.results", [(e["task_id"], encode_event(e), None) for e in events])


def wait_for_dispatches(prefix, count, domain=DOMAIN, timeout=30):
    dispatches = read_dispatches(prefix, domain, expected=count, timeout=timeout)
    assert len(dispatches) >= count, f"{len(dispatches)} dispatches, expected {count}"
    return dispatches


def wait_for_state(prefix, task_id, state, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = read_state(prefix, timeout=2).get(task_id)
        if item and item["state"] == state:
            return item
        time.sleep(0.3)
    raise AssertionError(f"{task_id} never reached {state}; last: {read_state(prefix, timeout=2).get(task_id)}")


def test_full_lifecycle_driven_by_worker_results():
    prefix = unique_prefix("life")
    env = environment(prefix)
    create_topics(env)
    run = Backlogd(env)
    try:
        submit(prefix, task_event("ok"), task_event("flaky"), task_event("broken", max_attempts=2))
        dispatches = wait_for_dispatches(prefix, 3)
        assert {(d["task_id"], d["attempt"], d["dispatch_id"]) for d in dispatches} == {
                ("ok", 1, "ok/1"), ("flaky", 1, "flaky/1"), ("broken", 1, "broken/1")}
        assert all(d["policy_name"] == "fifo" and d["lease_expires_at"] > d["decided_at"] for d in dispatches)

        report(prefix, result("ok", "STARTED", 1), result("ok", "HEARTBEAT", 1), result("ok", "COMPLETED", 1),
               result("flaky", "STARTED", 1),
               result("flaky", "FAILED", 1, error={"code": "OOM", "message": "killed", "retryable": True}),
               result("broken", "FAILED", 1, error={"code": "E1", "message": "first", "retryable": True}))
        wait_for_state(prefix, "ok", "COMPLETED")
        dispatches = wait_for_dispatches(prefix, 5)  # flaky/2 and broken/2 after their back-off
        assert ("flaky", 2) in {(d["task_id"], d["attempt"]) for d in dispatches}

        report(prefix, result("flaky", "COMPLETED", 2),
               result("flaky", "FAILED", 1, error={"code": "LATE", "message": "stale", "retryable": True}),
               result("broken", "FAILED", 2, error={"code": "E2", "message": "again", "retryable": True}))
        wait_for_state(prefix, "flaky", "COMPLETED")
        dead = wait_for_state(prefix, "broken", "DEAD")
        assert dead["attempt"] == 2 and dead["last_error"]["code"] == "E2"
    finally:
        code, counts = run.stop()
    assert code == 0 and counts["stale"] == 1 and counts["illegal"] == 0

    letters = consume_all(prefix + "backlog.dlq", expected=1)
    assert len(letters) == 1
    headers = {k: v.decode() for k, v in letters[0].headers()}
    assert headers["dlq.reason"] == "retries.exhausted" and headers["dlq.stage"] == "backlog"
    assert headers["dlq.attempts"] == "2" and "E2" in headers["dlq.detail"]
    submission = decode(letters[0].value())
    assert submission["task_id"] == "broken" and submission["event_type"] == "SUBMITTED"

    transitions = consume_all(prefix + "backlog.transitions", expected=20)
    # each record's timestamp is the time of its change, not of the produce call
    assert all(m.timestamp()[1] == decode(m.value())["at"] for m in transitions)
    history = [t for t in decode_transitions(transitions) if t["task_id"] == "flaky"]
    steps = [(t["from_state"], t["to_state"], t["cause"]) for t in history]
    assert steps[:2] == [(None, "QUEUED", "SUBMITTED"), ("QUEUED", "READY", "SUBMITTED")]
    assert ("RUNNING", "FAILED", "FAILED") in steps and ("FAILED", "RETRY_WAIT", "FAILED") in steps
    assert ("RETRY_WAIT", "READY", "retry_due") in steps and steps[-1][1] == "COMPLETED"
    assert [t["seq"] for t in history] == list(range(1, len(history) + 1))


def test_one_snapshot_per_task_and_transaction():
    """SPEC §3: backlog.state gets each changed task's latest snapshot once per transaction, not one per change;
    a task that ends gets its full snapshot (payload included) before the backlog trims it."""
    prefix = unique_prefix("snap")
    env = environment(prefix)
    create_topics(env)
    total = 200
    run = Backlogd(env)
    try:
        run.wait_for("snapshots")
        submit(prefix, *[task_event(f"s{i}", payload=b"p" * 64) for i in range(total)])
        wait_for_all(prefix, total)
        report(prefix, result("s0", "STARTED", 1), result("s0", "COMPLETED", 1))
        done = wait_for_state(prefix, "s0", "COMPLETED")
    finally:
        code, counts = run.stop()
    assert code == 0
    assert done["payload"] == b"p" * 64, "the final snapshot of an ended task lost its payload"
    transitions = consume_all(prefix + "backlog.transitions", expected=3 * total)
    snapshots = consume_all(prefix + "backlog.state", expected=total)
    per_task = {}
    for message in snapshots:
        per_task[message.key()] = per_task.get(message.key(), 0) + 1
    changes = {}
    for message in transitions:
        changes[message.key()] = changes.get(message.key(), 0) + 1
    assert len(per_task) == total
    assert all(per_task[key] <= changes[key] for key in per_task)
    # each task's 3 changes (QUEUED, READY, DISPATCHED) took at most 2 transactions, most of them 1
    assert len(snapshots) <= total + total // 2, f"{len(snapshots)} snapshots for {len(transitions)} changes"
    assert len(snapshots) < len(transitions)


def test_illegal_results_are_dead_lettered():
    prefix = unique_prefix("illegal")
    env = environment(prefix)
    create_topics(env)
    report(prefix, result("ghost", "COMPLETED", 1))
    submit(prefix, task_event("twice"), task_event("twice"))
    run = Backlogd(env)
    try:
        run.wait_for(r"-> .*backlog\.dlq", count=2)
    finally:
        run.stop()
    reasons = sorted((m.key().decode(), dict(m.headers())["dlq.detail"].decode())
                     for m in consume_all(prefix + "backlog.dlq", expected=2))
    assert reasons[0] == ("ghost", "COMPLETED for unknown task ghost")
    assert reasons[1][0] == "twice" and reasons[1][1].startswith("SUBMITTED for task twice in ")


def test_restart_restores_the_same_state():
    prefix = unique_prefix("restart")
    env = environment(prefix)
    create_topics(env)
    run = Backlogd(env)
    try:
        submit(prefix, *[task_event(f"r{i}") for i in range(30)])
        wait_for_dispatches(prefix, 30)
        report(prefix, *[result(f"r{i}", "COMPLETED", 1) for i in range(10)])
        for i in range(10):
            wait_for_state(prefix, f"r{i}", "COMPLETED")
    finally:
        run.stop()
    before = read_state(prefix)

    again = Backlogd(env)
    try:
        restored = again.wait_for(r"snapshots")
        report(prefix, *[result(f"r{i}", "STARTED", 1) for i in range(10, 15)])
        for i in range(10, 15):
            wait_for_state(prefix, f"r{i}", "RUNNING")
    finally:
        code, counts = again.stop()
    assert code == 0 and counts["restored"] >= 30 and counts["items"] == 30
    assert counts["dispatched"] == 0, "a restored DISPATCHED task was dispatched again"
    assert "0 unreadable" in restored[0]
    after = read_state(prefix)
    assert {k: v["state"] for k, v in before.items() if not k.startswith(("r10", "r11", "r12", "r13", "r14"))} == \
           {k: v["state"] for k, v in after.items() if not k.startswith(("r10", "r11", "r12", "r13", "r14"))}


def test_two_instances_split_partitions_and_resolve_a_dependency():
    prefix = unique_prefix("two")
    env_a, env_b = environment(prefix, "a"), environment(prefix, "b")
    create_topics(env_a)
    first, second = Backlogd(env_a), Backlogd(env_b)
    try:
        first.wait_for("snapshots")
        second.wait_for("snapshots")
        time.sleep(3)  # let the group settle on both members
        # Many tasks, each depending on a task submitted just before it: some pairs land on different owners.
        tasks = [task_event("d0")] + [task_event(f"d{i}", depends_on=[f"d{i - 1}"]) for i in range(1, 12)]
        submit(prefix, *tasks)
        for i in range(12):
            wait_for_dispatches(prefix, i + 1)
            report(prefix, result(f"d{i}", "COMPLETED", 1))
        wait_for_state(prefix, "d11", "COMPLETED")
    finally:
        code_a, counts_a = first.stop()
        code_b, counts_b = second.stop()
    assert code_a == 0 and code_b == 0
    assert counts_a["partitions"] > 0 and counts_b["partitions"] > 0, "the partitions were not split"
    assert counts_a["dispatched"] > 0 and counts_b["dispatched"] > 0, "one instance did all the work"
    assert counts_a["notices"] + counts_b["notices"] >= 22


def assert_dispatched_once(prefix, state, total):
    """Every one of `total` tasks is DISPATCHED in `state`, and read_committed sees one decision each."""
    assert len(state) == total and all(item["state"] == "DISPATCHED" for item in state.values())
    dispatches = read_dispatches(prefix, DOMAIN, expected=total, timeout=60)
    pairs = [(d["task_id"], d["attempt"]) for d in dispatches]
    assert len(pairs) == total and len(set(pairs)) == total, "a (task_id, attempt) was dispatched twice"


def test_kill_9_mid_stream_loses_nothing_and_dispatches_once():
    prefix = unique_prefix("kill9")
    env = environment(prefix, "k")
    create_topics(env)
    total = 20000
    run = Backlogd(env)
    run.wait_for("snapshots")
    batch = 2000
    for start in range(0, total, batch):
        submit(prefix, *[task_event(f"k{i}") for i in range(start, start + batch)])
        if start == total // 2:
            run.wait_for("progress|dispatched", timeout=30)
            run.process.send_signal(signal.SIGKILL)
            run.process.wait()
    again = Backlogd(env)
    try:
        state = wait_for_all(prefix, total, timeout=120)
    finally:
        code, counts = again.stop()
    assert code == 0
    assert_dispatched_once(prefix, state, total)
    verify = backlogd("replay", "--verify", env=env, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
