"""What operators and their tools see of a running instance, against the real broker: committed offsets
that Kafka's own kafka-consumer-groups reads as LAG 0 once everything is processed (past the markers of
transactional writers, backlog.deps included), and a restart after kill -9 that makes progress within
seconds (static membership), not after the old member's session timeout."""
import re
import signal
import time

from confluent_kafka import Producer

from conftest_common import backlogd
from kafka_tools import BOOTSTRAP, broker_env, kafka_tool, unique_prefix
from pipeline import Backlogd, produce_raw
from records import encode_event, read_dispatches, task_event, wait_for_all

DOMAIN = "model_inference"
PARTITIONS = 3


def environment(prefix, instance="r1", **overrides):
    settings = dict(BACKLOGD_TOPICS_PARTITIONS=PARTITIONS, BACKLOGD_GROUP_ID=prefix + "group",
                    BACKLOGD_INSTANCE_ID=instance)
    settings.update(overrides)
    return broker_env(prefix, **settings)


def create_topics(env):
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr


def produce_transactionally(topic, events, transactions=3):
    """A Java-like upstream producer that writes in transactions: each commit leaves a marker."""
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "partitioner": "murmur2_random",
                         "transactional.id": f"upstream-{time.time_ns()}"})
    producer.init_transactions(30)
    size = (len(events) + transactions - 1) // transactions
    for start in range(0, len(events), size):
        producer.begin_transaction()
        for event in events[start:start + size]:
            producer.produce(topic, key=event["task_id"], value=encode_event(event))
        producer.commit_transaction(30)


def group_lag(group):
    """{(topic, partition): lag} as kafka-consumer-groups --describe prints it."""
    described = kafka_tool("kafka-consumer-groups", "--describe", "--group", group).stdout
    lags = {}
    for line in described.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == group and re.fullmatch(r"\d+", fields[2]):
            lags[(fields[1], int(fields[2]))] = None if fields[5] == "-" else int(fields[5])
    return lags


def wait_for_zero_lag(group, topics, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        lags = group_lag(group)
        shown = {key: lag for key, lag in lags.items() if key[0] in topics}
        if len(shown) == len(topics) * PARTITIONS and all(lag == 0 for lag in shown.values()):
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"lag never reached 0 on every partition: {lags}")
        time.sleep(1)


def test_committed_offsets_pass_the_transaction_markers():
    """An upstream transactional producer, dependency notices (written transactionally by backlogd itself
    to backlog.deps) and a DLQ redrive (transactional too): once all is processed, Kafka's own tool shows
    LAG 0 on every partition of every input topic, as KEDA and lag alerts will."""
    prefix = unique_prefix("lag")
    env = environment(prefix)
    create_topics(env)
    events = [task_event(f"l{i}") for i in range(30)]
    events += [task_event(f"ld{i}", depends_on=[f"l{i}"]) for i in range(10)]
    run = Backlogd(env)
    try:
        run.wait_for("snapshots|assigned")
        produce_transactionally(prefix + "tasks.events", events)
        produce_raw(prefix + "tasks.events", [("junk", b"not avro", None)])
        wait_for_all(prefix, 30, timeout=60)
        run.wait_for(r"-> .*backlog\.dlq")
        redriven = backlogd("dlq", "redrive", "--reason", "decode.wire_format", env=env)
        assert redriven.returncode == 0, redriven.stderr
        run.wait_for(r"-> .*backlog\.dlq", count=2)
        topics = {prefix + "tasks.events", prefix + "tasks.results", prefix + "backlog.deps"}
        lags = wait_for_zero_lag(prefix + "group", topics)
        assert set(key[0] for key in lags) == topics
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-20:])


def test_kill_9_then_progress_within_10_s():
    """A restarted instance with the same instance_id rejoins as the same static member: it gets its
    partitions back at once, restores and dispatches new work within 10 s of its start."""
    prefix = unique_prefix("kill")
    env = environment(prefix, "static")
    create_topics(env)
    run = Backlogd(env)
    produce_raw(prefix + "tasks.events", [(f"a{i}", encode_event(task_event(f"a{i}")), None) for i in range(200)])
    wait_for_all(prefix, 200, timeout=60)
    run.process.send_signal(signal.SIGKILL)
    run.process.wait()

    started = time.monotonic()
    again = Backlogd(env)
    try:
        produce_raw(prefix + "tasks.events", [(f"b{i}", encode_event(task_event(f"b{i}")), None)
                                              for i in range(20)])
        dispatched = set()
        while time.monotonic() - started < 10 and len(dispatched) < 20:
            dispatched = {d["task_id"] for d in read_dispatches(prefix, DOMAIN, expected=220, timeout=1)
                          if d["task_id"].startswith("b")}
        took = time.monotonic() - started
    finally:
        code, _ = again.stop()
    assert len(dispatched) == 20, f"after {took:.1f} s only {len(dispatched)} of 20 new tasks were dispatched"
    assert code == 0
