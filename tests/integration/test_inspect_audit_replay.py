"""inspect, audit and replay --verify against what `backlogd run` really wrote
to the broker: a backlog driven through most of the state machine (dispatch,
start, heartbeat, completion, a non-retryable failure, a retry and its
exhaustion, a stale result, a dependency across partitions, a placeholder,
not_before, an update, a cancellation). inspect counts what was driven; audit
shows a task's steps with their causes and dispatch policy; replay --verify
passes, then fails naming the task and the field once a snapshot is forged
into backlog.state, and passes again once the true one is written back; a
restart of `run` leaves inspect's answer unchanged."""
import json
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from conftest_common import backlogd, backlogd_json
from kafka_tools import BOOTSTRAP, broker_env, unique_prefix
from pipeline import Backlogd, produce_raw
from records import decode, encode_event, result, task_event

PARTITIONS = 3
BACKLOG_ITEM_V1 = 4  # schemas/ids.json

# What the drive below leaves in backlog.state.
FINAL_STATES = {"t-a": "COMPLETED", "t-b": "RUNNING", "t-c": "DISPATCHED", "t-d": "DEAD", "t-e": "BLOCKED",
                "t-f": "CANCELLED", "t-g": "DISPATCHED", "t-h": "BLOCKED", "t-r": "DEAD", "t-missing": "QUEUED"}
BY_DOMAIN = {"model_inference": {"RUNNING": 1, "COMPLETED": 1, "DEAD": 1},
             "evaluation": {"DISPATCHED": 2},
             "data_preparation": {"BLOCKED": 1, "DEAD": 1},
             "remediation": {"BLOCKED": 1, "CANCELLED": 1}}
STATES = ["QUEUED", "BLOCKED", "READY", "DISPATCHED", "RUNNING", "RETRY_WAIT", "COMPLETED", "FAILED", "DEAD",
          "CANCELLED", "EXPIRED"]


def run_env(prefix):
    return broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=PARTITIONS, BACKLOGD_GROUP_ID=prefix + "group",
                      BACKLOGD_INSTANCE_ID=f"{prefix}i-{uuid.uuid4().hex[:6]}",
                      BACKLOGD_BACKLOG_RETRY_BASE_MS=200, BACKLOGD_BACKLOG_RETRY_CAP_MS=400,
                      BACKLOGD_BACKLOG_LEASE_MS=900000)


def read_topic(topic, timeout=30):
    """Every committed record of `topic`, partition by partition in offset order (a reader outside
    any group, as an auditor would use)."""
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"audit-{uuid.uuid4().hex}",
                         "enable.partition.eof": True, "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    records, at_end, deadline = [], set(), time.monotonic() + timeout
    try:
        while len(at_end) < PARTITIONS:
            assert time.monotonic() < deadline, f"{topic}: no end after {timeout} s"
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                at_end.add(message.partition())
                continue
            records.append(message)
    finally:
        consumer.close()
    return sorted(records, key=lambda m: (m.partition(), m.offset()))


def snapshots(prefix):
    """{task_id: (BacklogItem dict, raw value)} as compaction would leave backlog.state."""
    state = {}
    for message in read_topic(prefix + "backlog.state"):
        if message.value() is None:
            state.pop(message.key().decode(), None)
        else:
            state[message.key().decode()] = (decode(message.value()), message.value())
    return state


def wait_for_states(prefix, expected, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        seen = {task: item["state"] for task, (item, _) in snapshots(prefix).items()}
        if seen == expected:
            return
        assert time.monotonic() < deadline, f"backlog.state holds {seen}, expected {expected}"
        time.sleep(0.5)


def wait_for_dispatches(prefix, expected, timeout=90):
    """Waits until dispatch.<domain> holds `expected[domain]` decisions; returns {domain: [task_id/attempt]}."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {domain: [f"{d['task_id']}/{d['attempt']}" for d in map(lambda m: decode(m.value()),
                                                                       read_topic(prefix + "dispatch." + domain))]
                for domain in expected}
        if {domain: len(ids) for domain, ids in seen.items()} == expected:
            return seen
        assert time.monotonic() < deadline, f"dispatches {seen}, expected counts {expected}"
        time.sleep(0.5)


def send(topic, *events):
    produce_raw(topic, [(event["task_id"], encode_event(event), None) for event in events])


def counts(inspected):
    """inspect --json without what depends on the clock (the capacity estimate counts results over a window
    that ends at read_at)."""
    assert set(inspected["capacity"]) == set(inspected["by_domain"])
    return {k: v for k, v in inspected.items() if k not in ("read_at", "oldest_age_ms", "capacity")}


def drive(prefix, env):
    """Runs `backlogd run` through the scenario; returns its final counts and the SUBMITTED events."""
    events, results = prefix + "tasks.events", prefix + "tasks.results"
    later = int(time.time() * 1000) + 3_600_000
    submitted = {
        "t-a": task_event("t-a"),
        "t-b": task_event("t-b", payload=b"\x00payload\xff", labels={"team": "ml", "model": "r50"}),
        "t-c": task_event("t-c", domain="evaluation"),
        "t-d": task_event("t-d", domain="data_preparation"),
        "t-e": task_event("t-e", domain="remediation", not_before=later),
        "t-f": task_event("t-f", domain="remediation", not_before=later),
        "t-g": task_event("t-g", domain="evaluation", depends_on=["t-a"]),
        "t-h": task_event("t-h", domain="data_preparation", depends_on=["t-missing"]),
        "t-r": task_event("t-r", max_attempts=2),
    }
    send(events, *submitted.values())
    run = Backlogd(env)
    try:
        wait_for_dispatches(prefix, {"model_inference": 3, "evaluation": 1, "data_preparation": 1})
        send(results, result("t-a", "STARTED", 1), result("t-a", "COMPLETED", 1),
             result("t-b", "STARTED", 1), result("t-b", "HEARTBEAT", 1),
             result("t-d", "FAILED", 1, error={"code": "bad_input", "message": "no such table", "retryable": False}),
             result("t-r", "FAILED", 1, error={"code": "oom", "message": "out of memory", "retryable": True}))
        send(events, task_event("t-f", "CANCELLED"), task_event("t-e", "UPDATED", business_value=0.9))
        dispatched = wait_for_dispatches(prefix, {"model_inference": 4, "evaluation": 2, "data_preparation": 1})
        assert "t-g/1" in dispatched["evaluation"] and "t-r/2" in dispatched["model_inference"]
        send(results, result("t-r", "FAILED", 2, error={"code": "oom", "message": "again", "retryable": True}),
             result("t-r", "FAILED", 1, error={"code": "late", "message": "a stale result", "retryable": True}))
        wait_for_states(prefix, FINAL_STATES)
    finally:
        code, final = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])
    assert final["illegal"] == 0 and final["stale"] == 1, final
    assert final["dlq.retries.exhausted"] == 2, final  # t-d (not retryable) and t-r (after 2 attempts)
    return final, submitted


def test_inspect_audit_replay_against_what_run_wrote():
    prefix = unique_prefix("iar")
    env = run_env(prefix)
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    final, submitted = drive(prefix, env)

    # ---- inspect: the counts of what was driven
    result_, inspected = backlogd_json("inspect", "--json", env=env)
    assert result_.returncode == 0, result_.stderr
    assert inspected["items"] == 9 and inspected["placeholders"] == 1 and inspected["unreadable"] == 0
    expected_by_state = {state: 0 for state in STATES}
    for task, state in FINAL_STATES.items():
        expected_by_state[state] += task != "t-missing"
    assert inspected["by_state"] == expected_by_state
    assert inspected["by_domain"] == BY_DOMAIN
    assert set(inspected["oldest_age_ms"]) == {s for s, n in expected_by_state.items() if n}
    assert all(0 <= age < 600_000 for age in inspected["oldest_age_ms"].values())
    assert abs(inspected["read_at"] - time.time() * 1000) < 60_000
    table = backlogd("inspect", env=env)
    assert table.returncode == 0, table.stderr
    assert "9 items, 1 placeholder" in table.stdout
    assert any(line.split()[:2] == ["DISPATCHED", "2"] for line in table.stdout.splitlines())
    assert any(line.split()[:1] == ["evaluation"] for line in table.stdout.splitlines())

    # ---- audit: t-r's history, step by step, with causes and the dispatch policy
    result_, steps = backlogd_json("audit", "--json", "t-r", env=env)
    assert result_.returncode == 0, result_.stderr
    assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
    assert [(s["from"], s["to"], s["cause"], s["reason"]) for s in steps] == [
        (None, "QUEUED", "SUBMITTED", None),
        ("QUEUED", "READY", "SUBMITTED", None),
        ("READY", "DISPATCHED", "dispatch", None),
        ("DISPATCHED", "FAILED", "FAILED", None),
        ("FAILED", "RETRY_WAIT", "FAILED", "retry"),
        ("RETRY_WAIT", "READY", "retry_due", None),
        ("READY", "DISPATCHED", "dispatch", None),
        ("DISPATCHED", "FAILED", "FAILED", None),
        ("FAILED", "DEAD", "FAILED", "retries_exhausted"),
        ("DEAD", "DEAD", "FAILED", "stale_attempt"),
    ]
    assert [s["attempt"] for s in steps] == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    first, dispatch = steps[0], steps[2]
    assert first["event_id"] == submitted["t-r"]["event_id"]
    assert first["source"]["topic"] == prefix + "tasks.events" and first["source"]["offset"] >= 0
    assert first["source"]["partition"] == first["partition"]  # co-partitioned
    assert steps[3]["source"]["topic"] == prefix + "tasks.results"
    assert all(s["instance"] == env["BACKLOGD_INSTANCE_ID"] for s in steps)
    assert dispatch["dispatch_id"] == "t-r/1" and dispatch["policy"] == "fifo@1"
    assert dispatch["rationale"] == [] and dispatch["score"] == 0  # fifo scores no criteria
    assert steps[6]["dispatch_id"] == "t-r/2"
    assert steps[3]["error"] == {"code": "oom", "message": "out of memory", "retryable": True}
    assert steps[8]["error"] == {"code": "oom", "message": "again", "retryable": True}
    assert steps[0]["error"] is None
    assert all(s["at"].endswith("Z") and "T" in s["at"] for s in steps)
    text = backlogd("audit", "t-r", env=env)
    assert text.returncode == 0, text.stderr
    assert "task t-r: 10 transitions" in text.stdout
    assert "READY -> DISPATCHED  cause dispatch" in text.stdout
    assert "dispatch t-r/1, policy fifo@1, score 0" in text.stdout
    assert "FAILED -> DEAD  cause FAILED, reason retries_exhausted" in text.stdout
    # a dependent registered with t-a through backlog.deps, from another partition or the same
    _, steps_a = backlogd_json("audit", "--json", "t-a", env=env)
    assert "dependent_registered" in [s["cause"] for s in steps_a]
    missing = backlogd("audit", "t-nobody", env=env)
    assert missing.returncode == 1 and "task t-nobody has no history" in missing.stderr
    assert missing.stdout == ""

    # ---- replay --verify: the snapshots are what the transitions rebuild
    verified, report = backlogd_json("replay", "--verify", "--json", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert report["ok"] is True and report["differences"] == [] and report["chain_errors"] == []
    assert report["tasks"] == 10 and report["verified"] == 10 and report["purged"] == 0
    assert report["transitions"] == final["transitions"]
    text = backlogd("replay", "--verify", env=env)
    assert text.returncode == 0 and "10 tasks: 10 verified" in text.stdout, text.stdout

    # ---- a forged snapshot: t-c RUNNING where its history says DISPATCHED
    state = snapshots(prefix)
    item, original = state["t-c"]
    forged = dict(item, state="RUNNING")
    produce_raw(prefix + "backlog.state", [("t-c", encode_event(forged, schema_id=BACKLOG_ITEM_V1), None)])
    broken, report = backlogd_json("replay", "--verify", "--json", env=env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert report["ok"] is False and report["chain_errors"] == []
    assert report["differences"] == [{
        "task_id": "t-c", "field": "state", "state": "RUNNING", "rebuilt": "DISPATCHED",
        "message": "task t-c: state is RUNNING in backlog.state, DISPATCHED rebuilt from backlog.transitions"}]
    assert report["verified"] == 9
    text = backlogd("replay", "--verify", env=env)
    assert text.returncode == 1
    assert "task t-c: state is RUNNING in backlog.state, DISPATCHED rebuilt from backlog.transitions" in text.stdout
    _, forged_counts = backlogd_json("inspect", "--json", env=env)
    assert forged_counts["by_state"]["RUNNING"] == 2 and forged_counts["by_state"]["DISPATCHED"] == 1

    # ... and the true one written back: verified again
    produce_raw(prefix + "backlog.state", [("t-c", original, None)])
    again, report = backlogd_json("replay", "--verify", "--json", env=env)
    assert again.returncode == 0 and report["ok"] is True, again.stdout + again.stderr

    # ---- a restart of run changes nothing that inspect reports
    _, before = backlogd_json("inspect", "--json", env=env)
    run = Backlogd(env)
    try:
        run.wait_for(r"partitions: \d+ snapshots", timeout=60)
        time.sleep(2)  # a few rounds of its loop: timers, dispatch
    finally:
        code, restarted = run.stop()
    assert code == 0
    assert restarted["transitions"] == 0 and restarted["dispatched"] == 0, restarted
    _, after = backlogd_json("inspect", "--json", env=env)
    assert counts(after) == counts(before) == counts(inspected)
    assert backlogd("replay", "--verify", env=env).returncode == 0


# Regression: a task first seen as a placeholder takes its payload with a QUEUED -> QUEUED transition.
def test_payload_of_a_task_first_seen_as_a_placeholder_is_replayed():
    prefix = unique_prefix("iarph")
    env = run_env(prefix)
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    send(prefix + "tasks.events", task_event("child", depends_on=["parent"]))
    run = Backlogd(env)
    try:
        wait_for_states(prefix, {"child": "BLOCKED", "parent": "QUEUED"})
        send(prefix + "tasks.events", task_event("parent", payload=b"parent-payload"))
        wait_for_dispatches(prefix, {"model_inference": 1})
    finally:
        code, _ = run.stop()
    assert code == 0
    verified, report = backlogd_json("replay", "--verify", "--json", env=env)
    assert verified.returncode == 0, json.dumps(report, indent=2)
