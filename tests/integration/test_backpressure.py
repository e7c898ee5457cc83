"""Policy-driven dispatch against the real broker: a domain whose workers stop
committing is throttled at max_lag while the others keep flowing and opens
again when its workers catch up; input pauses at max_ready_items, and at
max_memory_bytes of tasks held while results keep flowing, and nothing is
lost; tasks that keep failing are retried with growing delays, then
dead-lettered; a task past its deadline is escalated to the DLQ."""
import json
import re
import time

from confluent_kafka import Consumer

from conftest_common import backlogd
from kafka_tools import BOOTSTRAP, broker_env, unique_prefix
from pipeline import Backlogd, consume_all
from records import decode, decode_transitions, read_dispatches, read_state, result, task_event
from test_backlog import create_topics, report, submit, wait_for_state
from test_operate import free_port, get, series


def write_policy(tmp_path, prefix, **eval_settings):
    policy = {
        "name": "test", "version": "1",
        "weights": {"business_value": 1.0, "aging": 2.0},
        "defaults": {"worker_group": prefix + "{domain}-workers", "max_lag": 1000, "resume_lag": 500},
        "domains": {"evaluation": dict({"max_lag": 5, "resume_lag": 2}, **eval_settings)},
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return path


def environment(prefix, policy, **overrides):
    return broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=1, BACKLOGD_GROUP_ID=prefix + "group",
                      BACKLOGD_INSTANCE_ID="bp", BACKLOGD_POLICY_FILE=str(policy), **overrides)


class Workers:
    """A domain's workers: a consumer group that reads its dispatch topic and commits."""

    def __init__(self, prefix, domain):
        self.consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"{prefix}{domain}-workers",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "isolation.level": "read_committed"})
        self.consumer.subscribe([f"{prefix}dispatch.{domain}"])

    def work(self, seconds):
        """Reads and commits for a while; returns what it read."""
        read, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is not None and not message.error():
                read.append(decode(message.value()))
                self.consumer.commit(message=message, asynchronous=False)
        return read

    def fail_everything(self, prefix, until_count, seconds):
        """Answers each dispatch with a retryable FAILED until `until_count` dispatches or time is up."""
        read, deadline = [], time.monotonic() + seconds
        while len(read) < until_count and time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is not None and not message.error():
                decision = decode(message.value())
                read.append(decision)
                report(prefix, result(decision["task_id"], "FAILED", decision["attempt"],
                                      error={"code": "OOM", "message": "killed", "retryable": True}))
                self.consumer.commit(message=message, asynchronous=False)
        return read

    def close(self):
        self.consumer.close()


def count_dispatches(prefix, domain):
    return len(read_dispatches(prefix, domain, timeout=2))


def test_a_lagging_domain_is_throttled_while_others_flow(tmp_path):
    prefix = unique_prefix("throttle")
    env = environment(prefix, write_policy(tmp_path, prefix))
    create_topics(env)
    run = Backlogd(env)
    workers = None
    try:
        run.wait_for("snapshots")
        submit(prefix, *[task_event(f"e{i}", domain="evaluation") for i in range(20)],
               *[task_event(f"m{i}", domain="model_inference") for i in range(20)])
        run.wait_for("domain evaluation throttled")
        time.sleep(2)
        assert count_dispatches(prefix, "model_inference") == 20, "the other domain did not keep flowing"
        assert count_dispatches(prefix, "evaluation") == 5, "the throttled domain got more than max_lag"

        workers = Workers(prefix, "evaluation")
        read = workers.work(15)
        assert len(read) == 20, f"workers got {len(read)} of 20 once they caught up"
        assert run.messages("domain evaluation open again")
        decision = read[0]
        assert decision["policy_name"] == "test" and decision["policy_version"] == "1"
        assert {c["name"] for c in decision["rationale"]} >= {"business_value", "aging"}
    finally:
        if workers:
            workers.close()
        code, counts = run.stop()
    assert code == 0 and counts["dispatched"] == 40


def test_input_pauses_at_max_ready_items_and_loses_nothing(tmp_path):
    prefix = unique_prefix("pause")
    env = environment(prefix, write_policy(tmp_path, prefix, max_lag=1, resume_lag=0),
                      BACKLOGD_BACKLOG_MAX_READY_ITEMS=10, BACKLOGD_BACKLOG_RESUME_READY_ITEMS=5)
    create_topics(env)
    run = Backlogd(env)
    workers = None
    try:
        run.wait_for("snapshots")
        submit(prefix, *[task_event(f"p{i}", domain="evaluation") for i in range(40)])
        run.wait_for("input paused")
        time.sleep(1)
        held = read_state(prefix, timeout=3)
        assert len(held) < 40, "the instance took in everything despite the pause"
        workers = Workers(prefix, "evaluation")
        read = workers.work(40)
        assert sorted(d["task_id"] for d in read) == sorted(f"p{i}" for i in range(40))
        assert run.messages("input resumed")
    finally:
        if workers:
            workers.close()
        code, counts = run.stop()
    assert code == 0 and counts["consumed"] == 40 and counts["dead_lettered"] == 0


def metrics_when(port, name, value, timeout=5):
    """/metrics once the gauge `name` reads `value` (gauges are set every 100 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        _, metrics = get(port, "/metrics")
        if series(metrics, name) == value or time.monotonic() > deadline:
            assert series(metrics, name) == value, f"{name} is {series(metrics, name)}, not {value}"
            return metrics
        time.sleep(0.1)


def test_input_pauses_at_its_memory_budget_while_results_flow(tmp_path):
    """Issue #12 item 12: 40 tasks of 100 kB each against a 2 MiB budget. Input pauses
    with the numbers logged and the metric set; the workers' results keep coming in,
    completed tasks let go of their payloads, input resumes, and every task is
    dispatched exactly once."""
    prefix = unique_prefix("membudget")
    port = free_port()
    env = environment(prefix, write_policy(tmp_path, prefix),
                      BACKLOGD_BACKLOG_MAX_MEMORY_BYTES=2097152, BACKLOGD_BACKLOG_RESUME_MEMORY_BYTES=1572864,
                      BACKLOGD_HTTP_PORT=port, BACKLOGD_HTTP_ADDRESS="127.0.0.1")
    create_topics(env)
    run = Backlogd(env)
    workers = None
    try:
        run.wait_for("snapshots")
        payload = b"x" * 100000
        submit(prefix, *[task_event(f"big{i}", domain="evaluation", payload=payload) for i in range(40)])
        line = run.wait_for("input paused")
        held = re.search(r"(\d+) bytes held \(backlog.max_memory_bytes 2097152\)", str(line))
        assert held and int(held.group(1)) >= 2097152, line
        # Paused, the gauge stays at or above the resume mark; dispatched tasks freeze meanwhile (their
        # payloads leave the heap), so it may already be below the budget that paused the input.
        metrics = metrics_when(port, "backlogd_backpressure_input_paused", 1)
        assert series(metrics, "backlogd_backlog_memory_bytes") >= 1572864
        assert len(read_state(prefix, timeout=3)) < 40, "the instance took in everything despite the budget"

        workers = Workers(prefix, "evaluation")
        dispatched, deadline = [], time.monotonic() + 60
        while len(dispatched) < 40 and time.monotonic() < deadline:
            for decision in workers.work(1):
                dispatched.append(decision["task_id"])
                report(prefix, result(decision["task_id"], "COMPLETED", decision["attempt"]))
        assert sorted(dispatched) == sorted(f"big{i}" for i in range(40)), "a task lost or dispatched twice"
        assert run.messages("input resumed")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = read_state(prefix, timeout=2)
            if all(state.get(f"big{i}", {}).get("state") == "COMPLETED" for i in range(40)):
                break
            time.sleep(0.3)
        assert all(state.get(f"big{i}", {}).get("state") == "COMPLETED" for i in range(40))
        metrics = metrics_when(port, "backlogd_backpressure_input_paused", 0)
        assert series(metrics, "backlogd_backlog_memory_bytes") < 1572864, "completed tasks still hold payloads"
        # Issue 18 item 6: the completed tasks are at rest, stubs in the heap and their bytes in the spill file.
        metrics = metrics_when(port, "backlogd_backlog_frozen_tasks", 40)
        assert series(metrics, "backlogd_spill_file_bytes") > 0
        assert series(metrics, "backlogd_spill_freeze_failures_total") == 0
    finally:
        if workers:
            workers.close()
        code, counts = run.stop()
    assert code == 0 and counts["consumed"] == 80 and counts["dead_lettered"] == 0


def test_failing_tasks_are_retried_with_growing_delays_then_dead_lettered(tmp_path):
    """Full jitter draws each back-off from [0, min(cap, base * 2^(n-1))]: every delay stays under its
    ceiling, and over 30 tasks the mean delay grows with the attempt (about 500, 1000, 2000 ms here)."""
    tasks, attempts, base_ms, cap_ms = 30, 4, 1000, 8000
    prefix = unique_prefix("retry")
    policy = write_policy(tmp_path, prefix, retry_base_ms=base_ms, retry_cap_ms=cap_ms, max_attempts=attempts)
    env = environment(prefix, policy)
    create_topics(env)
    run = Backlogd(env)
    workers = Workers(prefix, "evaluation")
    try:
        run.wait_for("snapshots")
        submit(prefix, *[task_event(f"f{i}", domain="evaluation") for i in range(tasks)])
        read = workers.fail_everything(prefix, tasks * attempts, seconds=60)
        assert len(read) == tasks * attempts, f"{len(read)} dispatches of {tasks * attempts}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {item["state"] for item in read_state(prefix, expected=tasks, timeout=5).values()}
            if states == {"DEAD"}:
                break
            time.sleep(0.5)
        assert states == {"DEAD"}, f"states at the end: {states}"
    finally:
        workers.close()
        code, counts = run.stop()
    assert code == 0

    transitions = decode_transitions(consume_all(prefix + "backlog.transitions", expected=tasks * 15))
    waits = [t["item"] for t in transitions if t["to_state"] == "RETRY_WAIT"]
    retried = {(t["task_id"], t["item"]["attempt"]): t["item"]["state_since"] for t in transitions
               if t["from_state"] == "RETRY_WAIT" and t["to_state"] == "READY"}
    assert len(waits) == tasks * (attempts - 1) and len(retried) == len(waits)
    delays = {n: [] for n in range(1, attempts)}
    for item in waits:
        delay = item["retry_at"] - item["state_since"]
        ceiling = min(cap_ms, base_ms * 2 ** (item["attempt"] - 1))
        assert 0 <= delay <= ceiling, f"{item['task_id']} attempt {item['attempt']}: {delay} ms, ceiling {ceiling}"
        assert retried[(item["task_id"], item["attempt"])] >= item["retry_at"], "READY again before retry_at"
        delays[item["attempt"]].append(delay)
    means = [sum(delays[n]) / len(delays[n]) for n in range(1, attempts)]
    assert means[0] < means[1] < means[2], f"mean back-off per attempt {means} does not grow"

    letters = consume_all(prefix + "backlog.dlq", expected=tasks)
    assert sorted(m.key().decode() for m in letters) == sorted(f"f{i}" for i in range(tasks))
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers()}
        assert headers["dlq.reason"] == "retries.exhausted" and headers["dlq.attempts"] == str(attempts)


def test_a_task_past_its_deadline_is_escalated(tmp_path):
    prefix = unique_prefix("deadline")
    env = environment(prefix, write_policy(tmp_path, prefix, max_lag=1, resume_lag=0))
    create_topics(env)
    run = Backlogd(env)
    try:
        run.wait_for("snapshots")
        soon = int(time.time() * 1000) + 3000
        # The first takes evaluation's one slot; the second waits READY until its deadline passes.
        submit(prefix, task_event("first", domain="evaluation"),
               task_event("late", domain="evaluation", deadline=soon, occurred_at=soon - 60000))
        wait_for_state(prefix, "late", "EXPIRED", timeout=20)
    finally:
        run.stop()
    letters = consume_all(prefix + "backlog.dlq", expected=1)
    assert [m.key() for m in letters] == [b"late"]
    headers = {k: v.decode() for k, v in letters[0].headers()}
    assert headers["dlq.reason"] == "deadline.expired" and "passed in READY" in headers["dlq.detail"]


def test_a_bad_policy_file_stops_start_up(tmp_path):
    prefix = unique_prefix("badpolicy")
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"name": "x", "version": "1", "weights": {"aging": 99}}))
    env = environment(prefix, path)
    create_topics(env)
    result = backlogd("run", env=env, timeout=60)
    assert result.returncode == 1
    assert "weights.aging" in result.stderr and "refused" in result.stderr
