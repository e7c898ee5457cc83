#!/usr/bin/env python3
"""bench/record_delta.py: what backlogd's transitions would weigh in a proposed shape.

Reads what one `backlogd run` wrote under a topic prefix (backlog.transitions,
backlog.state and every dispatch.<domain>, read_committed, from the beginning
to the end; the calibration of `build/bench_e2e --keep` leaves such a set under
<prefix>cal.), decodes each transition with fastavro along its writer schema,
re-encodes it in the shape below, and prints the value bytes per SUBMITTED
event (one snapshot each) as written and as they would be, by to_state:
told against the task's transition before wherever it is, and only when the
same transaction wrote it (what a writer needs to remember: a transaction's
changes, as src/pipeline/outputs.c does for the snapshots, or every task's).

The proposed shape is Transition v2 where a task's later transition carries,
instead of the whole item after it, only the item's fields that changed since
the task's transition before (`changes`: one union branch per field, of the
field's own type), state, seq and attempt being the transition's own; where
`as_before` says that cause, event_id, source_* and occurred_at are those of
the transition before; where dispatch_id is null when it is task_id/attempt,
and instance null after a task's first transition. The first transition keeps
the whole item with its payload, less the item's task_id (the transition's),
an sla_class of "standard" and the newest recent_event_id when it is the
transition's event_id. This measured the proposal on Transition v2 output
before backlogd wrote Transition v3 (schemas/transition/v3.avsc), the shape
it became (docs/performance.md, End to end, Calibration). It reads v1 and v2
records only: on v3 output, bench_e2e's calibration line and
scripts/record_bytes.py say what is written.

    PY=$(scripts/python-env.sh)      # confluent-kafka and fastavro (tests/requirements.txt)
    build/bench_e2e --runs 1 --no-peer --backlogd process --events 20000 --keep --topic-prefix rd-
    $PY bench/record_delta.py --bootstrap 127.0.0.1:19092 --prefix rd-cal.

Nothing is written to the broker; the consumer is assigned, in no group's
offsets. Exits 2 when a topic holds no record.
"""
import argparse
import collections
import copy
import io
import json
import pathlib
import struct
import sys

import fastavro
from confluent_kafka import Consumer, TopicPartition

SCHEMAS = pathlib.Path(__file__).resolve().parent.parent / "schemas"
DOMAINS_HINT = "dispatch."
IDLE_POLLS = 3  # empty polls of a second that end a read


def plain(node):
    """The schema without logicalType annotations: timestamps stay longs."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def load_schemas():
    """Every schema by id, and the id of the newest Transition."""
    entries = json.loads((SCHEMAS / "ids.json").read_text())["schemas"]
    newest = max((e for e in entries if e["contract"] == "transition"), key=lambda e: e["version"])
    return {e["id"]: plain(json.loads((SCHEMAS / e["file"]).read_text())) for e in entries}, newest["id"]


def read_topic(bootstrap, topic):
    """Every committed value of @topic: (schema id, bytes, partition, offset)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "record-delta", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
    values, idle = [], 0
    while idle < IDLE_POLLS:
        message = consumer.poll(1.0)
        if message is None:
            idle += 1
        elif not message.error() and message.value():
            value = message.value()
            values.append((struct.unpack(">I", value[1:5])[0], value, message.partition(), message.offset()))
    consumer.close()
    return values


def decoded(values, schemas):
    """(size, record, transaction) of each value; a transaction is told by the offset its commit
    marker takes: two records of a partition with a gap between their offsets are in two."""
    parsed = {i: fastavro.parse_schema(copy.deepcopy(s)) for i, s in schemas.items()}
    out, last, transaction = [], {}, 0
    for schema_id, value, partition, offset in sorted(values, key=lambda v: (v[2], v[3])):
        if partition not in last or last[partition] != offset - 1:
            transaction += 1
        last[partition] = offset
        out.append((len(value), fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed[schema_id]), transaction))
    return out


# ---- the proposed Transition shape ---------------------------------------------------------------------

# Item fields a later transition may send alone, as the one value that changed (state, seq and attempt
# come from the transition itself); anything else changing sends the whole item again.
CHANGES = ["state_since", "ready_since", "lease_expires_at", "retry_at", "terminal_at", "approved", "pending_deps",
           "dependents", "recent_event_ids", "last_error", "max_attempts", "business_value", "risk", "deadline",
           "not_before", "data_ready_at", "approval_required", "labels", "depends_on", "traceparent", "placeholder",
           "task_type", "domain", "tenant", "sla_class", "submitted_at"]
CAUSE_FIELDS = ("cause", "event_id", "source_topic", "source_partition", "source_offset", "occurred_at")


def delta_schema(transition_v2):
    """Transition v2 with: the item's task_id and sla_class nullable (the transition's; "standard"),
    cause, instance and dispatch_id nullable (as the task's transition before; task_id/attempt), a flag
    `as_before` (the same cause, event and origin as the transition before), and `changes`."""
    shape = copy.deepcopy(transition_v2)
    shape["name"] = "TransitionDelta"
    fields = {f["name"]: f for f in shape["fields"]}
    item = fields["item"]
    item_fields = {f["name"]: f for f in item["type"][1]["fields"]}
    for name in ("task_id", "sla_class"):
        item_fields[name].update(type=["null", "string"], default=None)
    for name in ("cause", "instance", "dispatch_id"):
        fields[name].update(type=["null", "string"], default=None)
    item_fields["last_error"] = {"type": ["null", "io.backlogd.TaskError"]}  # its change names the record
    branches = [{"type": "record", "name": f"Set_{name}", "fields": [{"name": "value", "type": item_fields[name]["type"]}]}
                for name in CHANGES]
    at = shape["fields"].index(item)
    shape["fields"].insert(at + 1, {"name": "changes", "type": {"type": "array", "items": branches}, "default": []})
    shape["fields"].insert(at, {"name": "as_before", "type": "boolean", "default": False})
    return fastavro.parse_schema(shape)


def as_delta(record, before):
    """@record in the proposed shape, given the task's transition before it (None: the first)."""
    out = dict(record, changes=[], as_before=False, instance=None if before else record["instance"])
    if record["dispatch_id"] == f"{record['task_id']}/{record['attempt']}":
        out["dispatch_id"] = None
    if before and record["event_id"] and all(record[k] == before[k] for k in CAUSE_FIELDS):
        out.update({k: None for k in CAUSE_FIELDS}, as_before=True)
    if before:
        out["item"] = None
        out["changes"] = [(f"io.backlogd.Set_{k}", {"value": record["item"][k]}) for k in CHANGES
                          if record["item"][k] != before["item"][k]]
        return out
    item = dict(record["item"], task_id=None)
    if item["sla_class"] == "standard":
        item["sla_class"] = None
    if item["recent_event_ids"] and item["recent_event_ids"][-1] == record["event_id"]:
        item["recent_event_ids"] = item["recent_event_ids"][:-1]
    out["item"] = item
    return out


def print_delta(transitions, transition_schema, events, within_transaction):
    """The transitions in the proposed shape; @within_transaction: a change is told against the
    task's transition before only when the same transaction wrote it (else the whole item again)."""
    shape = delta_schema(transition_schema)
    by_task = collections.defaultdict(list)
    for _, record, transaction in transitions:
        by_task[record["task_id"]].append((record, transaction))
    sizes = collections.Counter()
    for records in by_task.values():
        before, before_transaction = None, None
        for record, transaction in sorted(records, key=lambda r: r[0]["seq"]):
            known = before if not within_transaction or transaction == before_transaction else None
            out = io.BytesIO()
            fastavro.schemaless_writer(out, shape, as_delta(record, known))
            sizes[record["to_state"]] += 5 + len(out.getvalue())
            before, before_transaction = record, transaction
    told = "the transaction's transition before" if within_transaction else "the task's transition before"
    print(f"proposed Transition shape, against {told}: {sum(sizes.values()) / events:.1f} value bytes per event")
    for state, size in sizes.items():
        print(f"    to {state:<12} {size / events:.1f} per event")
    return sum(sizes.values()) / events


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--prefix", required=True, help="the topics' prefix, e.g. bench-e2e-123-cal.")
    args = parser.parse_args()
    schemas, transition_id = load_schemas()
    probe = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "record-delta"})
    topics = sorted(t for t in probe.list_topics(timeout=10).topics if t.startswith(args.prefix + DOMAINS_HINT))
    probe.close()
    read = {name: read_topic(args.bootstrap, args.prefix + name) for name in ("backlog.transitions", "backlog.state")}
    read["dispatch.<domain>"] = [v for t in topics for v in read_topic(args.bootstrap, t)]
    if not all(read.values()):
        print(f"record_delta: no records under {args.prefix} in " + ", ".join(n for n, v in read.items() if not v),
              file=sys.stderr)
        return 2
    events = len(read["backlog.state"])
    first_schema = schemas[read["backlog.transitions"][0][0]]
    if any(field["name"] == "changes" for field in first_schema["fields"]):
        print("record_delta: the transitions are Transition v3 already; see scripts/record_bytes.py", file=sys.stderr)
        return 2
    transitions = decoded(read["backlog.transitions"], schemas)
    print(f"{events} tasks (one snapshot each) under {args.prefix}; value bytes per event:")
    for name, values in read.items():
        print(f"    {name:<22} {len(values) / events:.2f} records, {sum(len(v[1]) for v in values) / events:8.1f}")
    by_state = collections.Counter()
    for size, record, _ in transitions:
        by_state[record["to_state"]] += size
    print("    transitions as written, by to_state: " +
          ", ".join(f"{state} {size / events:.1f}" for state, size in by_state.items()))
    written = sum(len(v[1]) for values in read.values() for v in values) / events
    others = written - sum(by_state.values()) / events
    print(f"in all as written: {written:.1f}")
    for within_transaction in (False, True):
        proposed = print_delta(transitions, schemas[transition_id], events, within_transaction)
        print(f"in all with them: {proposed + others:.1f}")
    print(f"transactions on backlog.transitions: {len({t for _, _, t in transitions})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
