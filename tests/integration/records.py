"""Reading and writing backlogd's Avro records with fastavro, independently of
backlogd's own codecs: what workers and auditors outside backlogd would do."""
import io
import json
import struct
import time
import uuid

import fastavro

from conftest_common import SOURCE_DIR
from pipeline import consume_all

SCHEMAS = SOURCE_DIR / "schemas"


def _plain(node):
    """The schema without logicalType annotations: timestamps stay milliseconds, as backlogd sees them."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


IDS = {entry["id"]: fastavro.parse_schema(_plain(json.loads((SCHEMAS / entry["file"]).read_text())))
       for entry in json.loads((SCHEMAS / "ids.json").read_text())["schemas"]}
TASK_EVENT_V2 = 2


def decode(value):
    """A Confluent-framed record of the file registry, decoded with its writer schema."""
    assert value[0] == 0, "magic byte"
    schema_id = struct.unpack(">I", value[1:5])[0]
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), IDS[schema_id])


def encode_event(event, schema_id=TASK_EVENT_V2):
    body = io.BytesIO()
    fastavro.schemaless_writer(body, IDS[schema_id], event)
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


def task_event(task_id, event_type="SUBMITTED", **fields):
    """A TaskEvent v2 dict with every field."""
    event = {"event_id": str(uuid.uuid4()), "task_id": task_id, "event_type": event_type,
             "occurred_at": int(time.time() * 1000), "producer": "pytest", "tenant": None, "sla_class": "standard",
             "task_type": None, "domain": None, "business_value": None, "risk": None, "deadline": None,
             "not_before": None, "data_ready_at": None, "depends_on": [], "max_attempts": None, "labels": {},
             "payload": None, "attempt": None, "dispatch_id": None, "error": None}
    if event_type == "SUBMITTED":
        event.update(task_type="batch_inference", domain="model_inference", business_value=0.5, risk=0.1)
    event.update(fields)
    return event


def result(task_id, event_type, attempt, **fields):
    """A worker's result for `attempt` of `task_id`."""
    return task_event(task_id, event_type, attempt=attempt, dispatch_id=f"{task_id}/{attempt}",
                      producer="worker", **fields)


def read_state(prefix, expected=0, timeout=20):
    """{task_id: BacklogItem} as backlog.state holds it now (latest per key, tombstones remove)."""
    state = {}
    for message in consume_all(prefix + "backlog.state", expected=expected, timeout=timeout):
        key = message.key().decode()
        if message.value() is None:
            state.pop(key, None)
        else:
            state[key] = decode(message.value())
    return state



def wait_for_states(prefix, expected, timeout=60):
    """Waits until backlog.state holds each task of {task_id: state} in that state; fails with what it holds."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {t: i["state"] for t, i in read_state(prefix, timeout=2).items() if t in expected}
        if seen == expected:
            return
        assert time.monotonic() < deadline, f"backlog.state holds {seen}, expected {expected}"
        time.sleep(0.3)

def read_dispatches(prefix, domain, expected=0, timeout=20):
    return [decode(m.value()) for m in consume_all(prefix + "dispatch." + domain, expected=expected,
                                                   timeout=timeout)]


def wait_for_all(prefix, total, state="DISPATCHED", timeout=90):
    """backlog.state as soon as it holds `total` tasks, all in `state`; as it is when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        items = read_state(prefix, expected=total, timeout=5)
        if (len(items) == total and all(item["state"] == state for item in items.values())
                or time.monotonic() > deadline):
            return items
        time.sleep(1)
