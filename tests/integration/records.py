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


# ---- Transition v3: the item told as changes --------------------------------------------------------------

_ITEM_FIELDS = next(f for f in json.loads((SCHEMAS / "transition" / "v2.avsc").read_text())["fields"]
                    if f["name"] == "item")["type"][1]["fields"]
# The NEW base of Transition v3: every BacklogItem field at its default; the required ones without one "" or 0.
_FRESH_ITEM = {f["name"]: f.get("default", "" if f["type"] == "string" else 0) for f in _ITEM_FIELDS}


class TransitionReader:
    """backlog.transitions' records, read in offset order per partition, each with its whole item (`item`)
    and its cause, event, origin, instance and dispatch_id spelled out, as Transition v2 had them, whatever
    version wrote it. A v3 record tells a task's later change in a transaction against the task's record
    before it (schemas/transition/v3.avsc): this keeps each task's last record. Without that record (read
    from the middle) the item is None and cause and instance "unknown", as backlogd's own reader says."""

    AS_BEFORE = ("cause", "event_id", "occurred_at", "source_topic", "source_partition", "source_offset")

    def __init__(self):
        self.last = {}

    def read(self, value):
        record = decode(value)
        if "base" not in record:  # v1, v2: the whole item in each
            return record
        before = self.last.get(record["task_id"])
        known = before is not None and before["seq"] == record["seq"] - 1
        if record["cause"] is None:
            record.update({k: before[k] for k in self.AS_BEFORE} if known else {"cause": "unknown"})
        if record["instance"] is None:
            record["instance"] = before["instance"] if known else "unknown"
        if record["dispatch_id"] == "":
            record["dispatch_id"] = f"{record['task_id']}/{record['attempt']}"
        record["item"] = self._item(record, record.pop("base"), record.pop("changes"), before if known else None)
        if record["item"] is None and record.get("unknown_before"):
            self.last.pop(record["task_id"], None)
        else:
            self.last[record["task_id"]] = record
        return record

    @staticmethod
    def _item(record, base, changes, before):
        if base == "NONE":
            return None
        if base == "NEW":
            item = dict(_FRESH_ITEM, state_since=record["at"],
                        recent_event_ids=[record["event_id"]] if record["event_id"] else [])
        elif before is None or before["item"] is None:
            record["unknown_before"] = True
            return None
        else:
            item = dict(before["item"], payload=None)
            if record["from_state"] != record["to_state"]:
                item["state_since"] = record["at"]
        item.update(task_id=record["task_id"], state=record["to_state"], seq=record["seq"], attempt=record["attempt"])
        for change in changes:  # each a record of one field, named as the BacklogItem's
            item.update(change)
        return item


def decode_transitions(messages):
    """The transitions among `messages` (in the order consumed), each read by one TransitionReader."""
    reader = TransitionReader()
    return [reader.read(m.value()) for m in messages if m.value() is not None]
