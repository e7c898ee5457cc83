#!/usr/bin/env python3
"""record_bytes.py: the value bytes of backlogd's records, field by field.

Reads the uncompressed record batches of Kafka log segments (a broker's data
directory, e.g. build/testenv/kafka-data/<topic>-<p>/*.log, as `bench_e2e
--keep` leaves them), takes each value's Confluent header (magic, schema id),
walks its Avro body along the writer schema from schemas/ (ids.json) and
prints, per contract and schema id, the records, the mean value bytes, and the
mean bytes of each top-level field (a nested record's fields as parent.child).
With --by-seq, transitions are also counted apart by their seq (1: the task's
first, the submission's; 2, 3, ...: the changes after it).

    scripts/record_bytes.py [--by-seq] build/testenv/kafka-data/bench-e2e-123-cal.backlog.*-[0-9]/*.log

Only what the bench needs: no compression, no control batches' values.
"""
import collections
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "schemas")


def varint(buf, pos):
    """An Avro/Kafka zigzag varint at pos: (value, next pos)."""
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos


def batch_values(path):
    """Every record value of the segment at path (None for a tombstone)."""
    data = open(path, "rb").read()
    pos = 0
    while pos + 61 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        attributes = struct.unpack_from(">h", data, pos + 21)[0]
        count = struct.unpack_from(">i", data, pos + 57)[0]
        if attributes & 0x07:
            raise SystemExit("%s: compressed batches are not read" % path)
        if attributes & 0x20:  # a control batch (commit or abort marker)
            pos = end
            continue
        rec = pos + 61
        for _ in range(count):
            size, rec = varint(data, rec)
            nxt = rec + size
            rec += 1  # attributes
            _, rec = varint(data, rec)  # timestamp delta
            _, rec = varint(data, rec)  # offset delta
            klen, rec = varint(data, rec)
            rec += max(klen, 0)
            vlen, rec = varint(data, rec)
            yield None if vlen < 0 else data[rec:rec + vlen]
            rec = nxt
        pos = end


class Walker:
    """Walks Avro binary along a parsed schema, adding each field's bytes to a counter."""

    def __init__(self):
        self.named = {}

    def resolve(self, schema, namespace=None):
        if isinstance(schema, str):
            return self.named.get(schema) or self.named.get("%s.%s" % (namespace, schema)) or schema
        if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
            ns = schema.get("namespace", namespace)
            self.named[schema["name"]] = schema
            self.named["%s.%s" % (ns, schema["name"])] = schema
        return schema

    def skip(self, schema, buf, pos, counts, prefix, namespace=None):
        schema = self.resolve(schema, namespace)
        if isinstance(schema, list):
            branch, pos = varint(buf, pos)
            return self.skip(schema[branch], buf, pos, counts, prefix, namespace)
        t = schema if isinstance(schema, str) else schema["type"]
        if isinstance(t, (dict, list)):
            return self.skip(t, buf, pos, counts, prefix, namespace)
        if t == "null":
            return pos
        if t == "boolean":
            return pos + 1
        if t in ("int", "long", "enum"):
            return varint(buf, pos)[1]
        if t == "float":
            return pos + 4
        if t == "double":
            return pos + 8
        if t in ("string", "bytes"):
            n, pos = varint(buf, pos)
            return pos + n
        if t == "fixed":
            return pos + schema["size"]
        if t in ("array", "map"):
            while True:
                n, pos = varint(buf, pos)
                if n == 0:
                    return pos
                if n < 0:
                    n = -n
                    pos = varint(buf, pos)[1]
                for _ in range(n):
                    if t == "map":
                        k, pos = varint(buf, pos)
                        pos += k
                    pos = self.skip(schema["items" if t == "array" else "values"], buf, pos, counts, prefix,
                                    namespace)
        if t == "record":
            ns = schema.get("namespace", namespace)
            for field in schema["fields"]:
                start = pos
                name = prefix + field["name"]
                nested = self.resolve(field["type"], ns)
                pos = self.skip(field["type"], buf, pos, counts, name + "." if prefix == "" and
                                self.is_record(nested) else prefix, ns)
                counts[name] += pos - start
            return pos
        raise SystemExit("unknown Avro type %r" % (t,))

    def is_record(self, schema):
        if isinstance(schema, list):
            return any(self.is_record(self.resolve(s)) for s in schema)
        return isinstance(schema, dict) and schema.get("type") == "record"


def main(paths, by_seq):
    catalog = json.load(open(os.path.join(SCHEMAS, "ids.json")))["schemas"]
    schemas = {e["id"]: (e["contract"], json.load(open(os.path.join(SCHEMAS, e["file"])))) for e in catalog}
    stats = collections.defaultdict(lambda: [0, 0, collections.Counter()])
    for path in paths:
        for value in batch_values(path):
            if not value or value[0] != 0:
                continue
            schema_id = struct.unpack_from(">i", value, 1)[0]
            contract, schema = schemas[schema_id]
            walker = Walker()
            label = contract
            if by_seq and contract == "transition":
                id_size, pos = varint(value, 5)  # task_id comes first, then seq
                seq = varint(value, pos + id_size)[0]
                label = "transition seq %d" % seq
            entry = stats[(label, schema_id)]
            end = walker.skip(schema, value, 5, entry[2], "")
            if end != len(value):
                raise SystemExit("%s: a %s record of %d bytes ends at %d" % (path, contract, len(value), end))
            entry[0] += 1
            entry[1] += len(value)
    for (contract, schema_id), (count, size, fields) in sorted(stats.items()):
        print("%s (schema id %d): %d records, %.1f value bytes each (5 of them the header)" %
              (contract, schema_id, count, size / count))
        for name, total in fields.items():
            print("  %-36s %7.1f" % (name, total / count))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--by-seq"]
    if not args:
        raise SystemExit(__doc__)
    main(args, len(args) < len(sys.argv) - 1)
