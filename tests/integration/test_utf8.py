"""Strings that are not UTF-8, against the real broker (issue 12).

A SUBMITTED event whose task_id is not valid UTF-8 used to be accepted: its
snapshot and dispatch records carried Avro strings no standard deserializer
reads, and the instance looped once the task ended. Now such an event, or
one with a bad label key or value, is dead-lettered as contract.violation
with the field path in dlq.detail and its original bytes, the valid tasks
around it are dispatched, and every log line of the run is JSON."""
import json
import re

from conftest_common import backlogd
from kafka_tools import broker_env, unique_prefix
from pipeline import Backlogd, consume_all, produce_raw
from records import decode, encode_event, task_event


def spliced(event, marker, bad):
    """The event encoded by fastavro (which writes only UTF-8) with `marker`'s bytes replaced by `bad`."""
    value = encode_event(event)
    assert value.count(marker) == 1 and len(bad) == len(marker)
    return value.replace(marker, bad)


def test_strings_that_are_not_utf8_are_dead_lettered_by_path():
    prefix = unique_prefix("utf8")
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=3, BACKLOGD_GROUP_ID=prefix + "group",
                     BACKLOGD_LOG_LEVEL="debug", BACKLOGD_HTTP_PORT="0")
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr

    bad_task_id = b"bad-\xff-id"
    pills = {
        bad_task_id: (spliced(task_event("bad-X-id"), b"bad-X-id", bad_task_id),
                      "task_id: not valid UTF-8 at byte 4"),
        b"bad-label": (spliced(task_event("bad-label", labels={"team": "ml-X-ops"}), b"ml-X-ops", b"ml-\xc3(ops"),
                       "labels.team: not valid UTF-8 at byte 3"),
        b"bad-key": (spliced(task_event("bad-key", labels={"zoXe": "eu"}), b"zoXe", b"zo\xed\xa0"),
                     "labels{key 0}: not valid UTF-8 at byte 2"),
    }
    headers = [("x-trace", b"\x00\xfe")]
    records = [(b"ok-before", encode_event(task_event("ok-before")), None)]
    records += [(key, value, headers) for key, (value, _) in pills.items()]
    records.append((b"ok-after", encode_event(task_event("ok-after")), None))
    produce_raw(prefix + "tasks.events", records)

    run = Backlogd(env)
    try:
        run.wait_for(r"-> " + re.escape(prefix) + "backlog.dlq", count=len(pills))
        run.wait_for("handed on", count=2)
    finally:
        code, counts = run.stop()
    assert code == 0, "\n".join(run.lines[-20:])
    assert counts["dead_lettered"] == len(pills) and counts["handed_on"] == 2

    letters = consume_all(prefix + "backlog.dlq", expected=len(pills))
    assert sorted(letter.key() for letter in letters) == sorted(pills)
    for letter in letters:
        value, detail = pills[letter.key()]
        dlq = {name: data.decode("utf-8") for name, data in letter.headers() if name.startswith("dlq.")}
        assert letter.value() == value, letter.key()  # byte for byte
        assert letter.headers()[0] == headers[0]
        assert dlq["dlq.reason"] == "contract.violation", dlq
        assert dlq["dlq.detail"] == detail, dlq
        assert dlq["dlq.stage"] == "ingest"

    dispatched = consume_all(prefix + "dispatch.model_inference", expected=2)
    assert sorted(decode(m.value())["task_id"] for m in dispatched) == ["ok-after", "ok-before"]

    for line in run.lines:  # every line, the DLQ warnings quoting the details included
        entry = json.loads(line)
        assert {"ts", "level", "module", "msg"} <= set(entry), line
    assert any("labels.team: not valid UTF-8" in m for m in run.messages("contract.violation"))
