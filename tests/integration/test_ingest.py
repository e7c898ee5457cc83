"""The ingest stage of `backlogd run` against the real broker and registry:
events of every TaskEvent version and of a serializer we did not write are
accepted, poison pills land in the DLQ with their reason and their exact
original bytes, and a registry outage pauses work without dead-lettering
anything."""
import io
import json
import os
import re
import signal
import struct
import subprocess
import time
import uuid

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest_common import BACKLOGD, SOURCE_DIR, backlogd
from kafka_tools import REGISTRY, broker_env, unique_prefix
from pipeline import Backlogd, consume_all, produce_raw

SCHEMAS = SOURCE_DIR / "schemas"
V1 = json.loads((SCHEMAS / "task_event" / "v1.avsc").read_text())
V2 = json.loads((SCHEMAS / "task_event" / "v2.avsc").read_text())
FILE_IDS = {1: V1, 2: V2}  # schemas/ids.json


def task_event(task_id, version=2, **fields):
    """A SUBMITTED TaskEvent as a dict with every field of `version`."""
    event = {"event_id": str(uuid.uuid4()), "task_id": task_id, "event_type": "SUBMITTED",
             "occurred_at": int(time.time() * 1000), "producer": "pytest", "task_type": "batch_inference",
             "domain": "model_inference", "business_value": 0.5, "risk": 0.5, "deadline": None,
             "not_before": None, "data_ready_at": None, "depends_on": [], "max_attempts": None, "labels": {},
             "payload": None, "attempt": None, "dispatch_id": None, "error": None}
    if version >= 2:
        event.update(tenant=None, sla_class="standard")
    event.update(fields)
    return event


def framed(schema_id, event, schema):
    """Confluent wire format, encoded by fastavro (not by backlogd)."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), event)
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


def start_pipeline(prefix, **env):
    environment = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_LOG_LEVEL="debug",
                             BACKLOGD_GROUP_ID=prefix + "group", **env)
    created = backlogd("topics", "create", env=environment)
    assert created.returncode == 0, created.stderr
    return environment


def test_v1_and_v2_events_are_accepted():
    prefix = unique_prefix("versions")
    env = start_pipeline(prefix)
    records = [(f"v1-{i}", framed(1, task_event(f"v1-{i}", version=1), V1), None) for i in range(5)]
    records += [(f"v2-{i}", framed(2, task_event(f"v2-{i}", tenant="acme", sla_class="premium"), V2), None)
                for i in range(5)]
    produce_raw(prefix + "tasks.events", records)
    run = Backlogd(env)
    try:
        run.wait_for("handed on", count=10)
    finally:
        code, counts = run.stop()
    assert code == 0
    assert counts["consumed"] == 10 and counts["handed_on"] == 10 and counts["dead_lettered"] == 0
    assert counts["items"] == 10 and counts["illegal"] == 0


def test_produce_command_round_trip():
    """`backlogd produce` writes what `backlogd run` accepts; a bad line is reported and the rest go out."""
    prefix = unique_prefix("produce")
    env = start_pipeline(prefix)
    lines = "\n".join([
        json.dumps({"task_id": "p-1", "event_type": "SUBMITTED", "task_type": "x", "domain": "evaluation",
                    "business_value": 0.2, "risk": 0.1, "deadline": "2031-01-01T00:00:00Z"}),
        "this is not json",
        json.dumps({"task_id": "p-2", "event_type": "SUBMITTED", "task_type": "x", "domain": "evaluation",
                    "business_value": 1.2, "risk": 0.1}),
        json.dumps({"task_id": "p-1", "event_type": "CANCELLED"}),
    ]) + "\n"
    result = backlogd("produce", env=env, input=lines)
    assert result.returncode == 1
    assert "line 2: not JSON" in result.stderr
    assert "line 3: contract.violation: business_value: 1.2 is outside [0, 1]" in result.stderr
    assert "2 sent" in result.stderr
    run = Backlogd(env)
    try:
        run.wait_for("handed on", count=2)
    finally:
        code, counts = run.stop()
    assert code == 0 and counts["handed_on"] == 2 and counts["dead_lettered"] == 0


def test_poison_pills_are_dead_lettered_with_the_original_bytes():
    prefix = unique_prefix("poison")
    env = start_pipeline(prefix)
    good = framed(2, task_event("ok-1"), V2)
    pills = {
        "wire": (b"not avro at all", "decode.wire_format"),
        "short": (b"\x00\x00\x01", "decode.wire_format"),
        "unknown": (b"\x00" + struct.pack(">I", 4242) + good[5:], "decode.schema_unknown"),
        "truncated": (good[:-3], "decode.avro"),
        "domain": (framed(2, task_event("domain", domain="training"), V2), "contract.violation"),
        "deadline": (framed(2, task_event("deadline", deadline=1), V2), "contract.violation"),
    }
    records = [(key, value, [("traceparent", b"00-4bf92f3577b34da6-00f067aa0ba902b7-01"), ("x-bin", b"\x00\xff")])
               for key, (value, _) in pills.items()]
    records.append(("ok-1", good, None))
    produce_raw(prefix + "tasks.events", records)
    run = Backlogd(env)
    try:
        run.wait_for(r"-> " + re.escape(prefix) + "backlog.dlq", count=len(pills))
        run.wait_for("handed on", count=1)
    finally:
        code, counts = run.stop()
    assert code == 0 and counts["dead_lettered"] == len(pills) and counts["handed_on"] == 1

    letters = consume_all(prefix + "backlog.dlq", expected=len(pills))
    assert len(letters) == len(pills)
    for letter in letters:
        key = letter.key().decode()
        value, reason = pills[key]
        headers = letter.headers()
        dlq = {name: data.decode() for name, data in headers if name.startswith("dlq.")}
        assert letter.value() == value, key
        assert headers[:2] == records[list(pills).index(key)][2], key  # original headers first, unchanged
        assert dlq["dlq.reason"] == reason, (key, dlq)
        assert dlq["dlq.original.topic"] == prefix + "tasks.events"
        assert int(dlq["dlq.original.offset"]) >= 0 and int(dlq["dlq.original.partition"]) in range(3)
        assert dlq["dlq.stage"] == "ingest" and dlq["dlq.attempts"] == "1"
        assert dlq["dlq.processor"].startswith("backlogd ")
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", dlq["dlq.failed_at"])
        assert dlq["dlq.detail"]
    details = {letter.key().decode(): dict(letter.headers())["dlq.detail"].decode() for letter in letters}
    assert details["domain"].startswith("domain:")
    assert details["deadline"].startswith("deadline:")
    assert details["unknown"] == "schema id 4242 is not in " + str(SCHEMAS) + "/ids.json"
    assert dict(next(l for l in letters if l.key() == b"unknown").headers())["dlq.schema.id"] == b"4242"


def test_run_refuses_topics_that_are_not_as_required():
    prefix = unique_prefix("refuse")
    env = broker_env(prefix, BACKLOGD_GROUP_ID=prefix + "group")
    result = subprocess.run([BACKLOGD, "run"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert f"topic {prefix}tasks.events does not exist" in result.stderr


def registry_pid():
    status = subprocess.run([str(SOURCE_DIR / "scripts" / "testenv.sh"), "status", "registry"],
                            capture_output=True, text=True)
    match = re.search(r"pid (\d+)", status.stdout + status.stderr)
    assert match, status.stdout + status.stderr
    return int(match.group(1))


def serializer(schema):
    client = SchemaRegistryClient({"url": REGISTRY})
    return AvroSerializer(client, json.dumps(schema), conf={"auto.register.schemas": True})


def test_events_from_a_standard_serializer_are_accepted():
    """Python confluent-kafka's AvroSerializer registers and frames the records; backlogd reads them
    through the registry."""
    prefix = unique_prefix("serializer")
    env = start_pipeline(prefix, BACKLOGD_REGISTRY_URL=REGISTRY)
    context = SerializationContext(prefix + "tasks.events", MessageField.VALUE)
    v1, v2 = serializer(V1), serializer(V2)
    records = [(f"s{i}", v1(task_event(f"s{i}", version=1), context), None) for i in range(3)]
    records += [(f"s{i}", v2(task_event(f"s{i}", labels={"k": "v"}), context), None) for i in range(3, 6)]
    produce_raw(prefix + "tasks.events", records)
    run = Backlogd(env)
    try:
        run.wait_for("handed on", count=6)
    finally:
        code, counts = run.stop()
    assert code == 0 and counts["handed_on"] == 6 and counts["dead_lettered"] == 0
    # backlogd registered its own output schemas at start-up.
    assert run.messages(r"transition v3 registered under " + re.escape(prefix) + "backlog.transitions-value")


def test_registry_outage_pauses_and_loses_nothing():
    """With the registry frozen, records whose schema backlogd has not fetched yet wait; nothing is
    dead-lettered; once it answers again every record is processed."""
    prefix = unique_prefix("outage")
    env = start_pipeline(prefix, BACKLOGD_REGISTRY_URL=REGISTRY, BACKLOGD_REGISTRY_TIMEOUT_MS=500,
                         BACKLOGD_INGEST_RETRY_BACKOFF_MAX_MS=1000)
    context = SerializationContext(prefix + "tasks.events", MessageField.VALUE)
    first = [(f"a{i}", serializer(V1)(task_event(f"a{i}", version=1), context), None) for i in range(10)]
    # Registered now, while the registry answers; backlogd sees the id only after the outage begins.
    second = [(f"b{i}", serializer(V2)(task_event(f"b{i}"), context), None) for i in range(20)]
    produce_raw(prefix + "tasks.events", first)
    run = Backlogd(env)
    pid = registry_pid()
    try:
        run.wait_for("handed on", count=10)
        os.kill(pid, signal.SIGSTOP)
        try:
            produce_raw(prefix + "tasks.events", second)
            run.wait_for(r"paused at offset .* retry in", count=3, timeout=30)
            time.sleep(2)
            waits = {}
            for message in run.messages(r"paused at offset .* retry in"):
                where, wait = re.match(r"(\S+ \[\d+\]) paused at offset \d+, retry in (\d+) ms", message).groups()
                waits.setdefault(where, []).append(int(wait))
            assert any(len(w) > 1 and w[1] > w[0] for w in waits.values()), f"the back-off never grows: {waits}"
            assert all(w == sorted(w) and w[-1] <= 1000 for w in waits.values()), waits
            assert not run.messages(r"-> .*backlog\.dlq"), "a transient fault was dead-lettered"
            assert len(run.messages("handed on")) < 30
        finally:
            os.kill(pid, signal.SIGCONT)
        run.wait_for("handed on", count=30, timeout=60)
    finally:
        code, counts = run.stop()
    assert code == 0
    assert counts["handed_on"] == 30 and counts["dead_lettered"] == 0 and counts["retries"] >= 2
    assert run.messages(r"resumed")
