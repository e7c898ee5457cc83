"""A Schema Registry that stops answering (SIGSTOP) holds up only the partition
whose record needs a schema backlogd has not fetched yet: the schema is fetched
on a thread of its own, that one partition waits in order, and every other
partition keeps flowing at its normal pace, not one registry.timeout_ms per try.
After SIGCONT the waiting records are processed and nothing was dead-lettered.
A backlog.deps notice whose schema cannot be fetched waits the same way (it used to
be dead-lettered with reason "none"), and a new instance restores through the fetcher."""
import json
import os
import re
import signal
import subprocess
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest_common import SOURCE_DIR, backlogd
from kafka_tools import BOOTSTRAP, REGISTRY, broker_env, unique_prefix
from pipeline import Backlogd, consume_all

SCHEMAS = SOURCE_DIR / "schemas"
V1 = json.loads((SCHEMAS / "task_event" / "v1.avsc").read_text())
V2 = json.loads((SCHEMAS / "task_event" / "v2.avsc").read_text())
# A writer schema of its own (one field more, which the reader ignores): an id backlogd has never seen.
V2_PROBE = {**V2, "fields": V2["fields"] + [{"name": "stall_probe", "type": ["null", "string"], "default": None}]}
NOTICE = json.loads((SCHEMAS / "dependency_notice" / "v1.avsc").read_text())
NOTICE_PROBE = {**NOTICE, "fields": NOTICE["fields"] + [{"name": "stall_probe", "type": ["null", "string"],
                                                         "default": None}]}
REGISTRY_TIMEOUT_MS = 10000


def task_event(task_id, version):
    event = {"event_id": str(uuid.uuid4()), "task_id": task_id, "event_type": "SUBMITTED",
             "occurred_at": int(time.time() * 1000), "producer": "pytest", "task_type": "batch_inference",
             "domain": "model_inference", "business_value": 0.5, "risk": 0.5, "deadline": None,
             "not_before": None, "data_ready_at": None, "depends_on": [], "max_attempts": None, "labels": {},
             "payload": None, "attempt": None, "dispatch_id": None, "error": None}
    if version >= 2:
        event.update(tenant=None, sla_class="standard")
    return event


def registry_pid():
    status = subprocess.run([str(SOURCE_DIR / "scripts" / "testenv.sh"), "status", "registry"],
                            capture_output=True, text=True)
    match = re.search(r"pid (\d+)", status.stdout + status.stderr)
    assert match, status.stdout + status.stderr
    return int(match.group(1))


def produce_located(topic, records):
    """Publishes (key, value) pairs keyed like Java producers do; returns {key: partition} as delivered."""
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "partitioner": "murmur2_random"})
    located = {}

    def delivered(error, message):
        assert error is None, error
        located[message.key().decode()] = message.partition()

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
    assert producer.flush(30) == 0
    return located


def handed_on(run, task_ids):
    """The task ids among `task_ids` that the log says were handed on."""
    return {t for t in task_ids if run.messages(rf"SUBMITTED {re.escape(t)} handed on$")}


def wait_handed_on(run, task_ids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handed_on(run, task_ids) == set(task_ids):
            return
        time.sleep(0.02)
    missing = set(task_ids) - handed_on(run, task_ids)
    raise AssertionError(f"not handed on within {timeout} s: {sorted(missing)}; log:\n" + "\n".join(run.lines[-30:]))


def test_a_stalled_registry_holds_up_only_the_partition_that_needs_it():
    prefix = unique_prefix("stall")
    topic = prefix + "tasks.events"
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_LOG_LEVEL="debug",
                     BACKLOGD_GROUP_ID=prefix + "group", BACKLOGD_REGISTRY_URL=REGISTRY,
                     BACKLOGD_REGISTRY_TIMEOUT_MS=REGISTRY_TIMEOUT_MS)
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    client = SchemaRegistryClient({"url": REGISTRY})
    context = SerializationContext(topic, MessageField.VALUE)
    v1 = AvroSerializer(client, json.dumps(V1), conf={"auto.register.schemas": True})
    probe = AvroSerializer(client, json.dumps(V2_PROBE), conf={"auto.register.schemas": True})
    warm = [(f"w{i}", v1(task_event(f"w{i}", 1), context)) for i in range(9)]
    # Registered now, while the registry answers; backlogd meets its id only once the registry is stopped.
    waiting = [("p0", probe(task_event("p0", 2), context))]
    others = [(f"o{i}", v1(task_event(f"o{i}", 1), context)) for i in range(30)]
    probe_id = int.from_bytes(waiting[0][1][1:5], "big")

    produce_located(topic, warm)
    run = Backlogd(env)
    pid = registry_pid()
    stopped = False
    try:
        wait_handed_on(run, [k for k, _ in warm], timeout=60)  # the V1 id is fetched and cached
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        stalled_partition = produce_located(topic, waiting)["p0"]
        time.sleep(1)  # backlogd reads it and asks for its schema

        started = time.monotonic()
        located = produce_located(topic, others)
        flowing = [k for k, p in located.items() if p != stalled_partition]
        behind = [k for k, p in located.items() if p == stalled_partition]
        assert flowing, located
        wait_handed_on(run, flowing, timeout=REGISTRY_TIMEOUT_MS / 1000 / 2)
        took = time.monotonic() - started
        print(f"{len(flowing)} records of the other partitions handed on in {took * 1000:.0f} ms "
              f"with the registry stopped (registry.timeout_ms {REGISTRY_TIMEOUT_MS})")
        # Order within the partition is kept: what came after the waiting record waits too.
        time.sleep(0.5)
        assert handed_on(run, ["p0"] + behind) == set()
        assert not run.messages(r"-> .*backlog\.dlq"), "a registry stall was dead-lettered"
        assert not run.messages(r"paused at offset"), "the fetch failed although the registry only hung"
        assert run.messages(rf"\[{stalled_partition}\] waits at offset \d+: schema {probe_id} pending")

        os.kill(pid, signal.SIGCONT)
        stopped = False
        wait_handed_on(run, ["p0"] + behind, timeout=REGISTRY_TIMEOUT_MS / 1000)
        assert run.messages(rf"^schema {probe_id} fetched in \d+ ms$")
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        code, counts = run.stop()
    assert code == 0
    assert counts["handed_on"] == 40 and counts["dead_lettered"] == 0

    # A new instance restores the 40 tasks; their snapshots' schema comes through the same fetcher.
    again = Backlogd(env)
    try:
        restored = again.wait_for(r"backlog\.state, 3 partitions: \d+ snapshots, 0 tombstones, 0 unreadable",
                                  timeout=60)
        assert int(re.search(r"(\d+) snapshots", restored[0]).group(1)) >= 40
        fetched = again.messages(r"^schema \d+ fetched in \d+ ms$")
        assert fetched and not again.messages(r"restoring again"), again.lines[-20:]
    finally:
        code, _ = again.stop()
    assert code == 0


def test_a_dependency_notice_waits_for_its_schema_and_is_never_dead_lettered():
    """A backlog.deps record whose schema cannot be fetched now is the registry's fault, not the
    notice's: it waits (it used to be dead-lettered with no reason) and is read once the registry answers."""
    prefix = unique_prefix("stallnotice")
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_LOG_LEVEL="debug",
                     BACKLOGD_GROUP_ID=prefix + "group", BACKLOGD_REGISTRY_URL=REGISTRY,
                     BACKLOGD_REGISTRY_TIMEOUT_MS=500, BACKLOGD_INGEST_RETRY_BACKOFF_MAX_MS=1000)
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    client = SchemaRegistryClient({"url": REGISTRY})
    context = SerializationContext(prefix + "backlog.deps", MessageField.VALUE)
    notice = AvroSerializer(client, json.dumps(NOTICE_PROBE), conf={"auto.register.schemas": True})
    value = notice({"kind": "WAITING", "to_task_id": "n-to", "from_task_id": "n-from", "outcome": None,
                    "at": 1795849200000}, context)
    notice_id = int.from_bytes(value[1:5], "big")

    run = Backlogd(env)
    pid = registry_pid()
    stopped = False
    try:
        run.wait_for(r"backlog\.state, \d+ partitions: ", timeout=60)
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        produce_located(prefix + "backlog.deps", [("n-to", value)])
        time.sleep(2)  # more than registry.timeout_ms: the fetch has failed at least once
        assert not run.messages(r"-> .*backlog\.dlq"), "a registry fault was dead-lettered"
        assert run.messages(rf"schema {notice_id} not fetched after \d+ ms")
        os.kill(pid, signal.SIGCONT)
        stopped = False
        run.wait_for(rf"^schema {notice_id} fetched in \d+ ms$", timeout=30)
        time.sleep(1)
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        code, _ = run.stop()
    assert code == 0
    assert not run.messages(r"-> .*backlog\.dlq")
    assert consume_all(prefix + "backlog.dlq", expected=0, timeout=2) == []
