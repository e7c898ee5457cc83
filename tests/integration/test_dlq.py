"""`backlogd dlq list` and `backlogd dlq redrive` against the real broker.

The main test runs the real pipeline: poison pills (a domain that is not
configured, published by `backlogd produce --no-validate` and by a plain
producer with headers; wire-format garbage) are dead-lettered by `backlogd
run`; `dlq list` shows them by reason; once the domain is configured, `dlq
redrive --reason contract.violation` republishes exactly those letters to
tasks.events with their original bytes and headers and the dlq.redriven.*
marks; `run` then accepts the tasks, and a second redrive publishes nothing.

The others write letters straight into backlog.dlq (only their headers matter
to a redrive) to check what the pipeline cannot be made to do on cue: several
redrives at once, a redrive that died with its transaction open or just after
its commit, and letters that do not come from an input topic."""
import json
import subprocess
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from conftest_common import BACKLOGD, backlogd, backlogd_json
from kafka_tools import BOOTSTRAP, broker_env, unique_prefix
from pipeline import Backlogd, produce_raw
from records import encode_event, task_event

PARTITIONS = 3
DOMAINS = "data_preparation,model_inference,evaluation,remediation"
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def run_env(prefix, **overrides):
    return broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=PARTITIONS, BACKLOGD_GROUP_ID=prefix + "group",
                      BACKLOGD_INSTANCE_ID=f"{prefix}i-{uuid.uuid4().hex[:6]}", **overrides)


def pipeline_env(env):
    """For `backlogd run`: "handed on" is a debug line; no HTTP endpoint, whose port others may hold."""
    return dict(env, BACKLOGD_LOG_LEVEL="debug", BACKLOGD_HTTP_PORT="0")


def create_topics(env):
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr


def read_topic(topic, timeout=30):
    """Every committed record of `topic`, partition by partition in offset order."""
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"dlq-test-{uuid.uuid4().hex}",
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


def headers_of(message):
    return message.headers() or []


def redriven_from(message):
    return dict(headers_of(message)).get("dlq.redriven.from", b"").decode() or None


def dlq_list(env, *args):
    result, listing = backlogd_json("dlq", "list", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return listing


def redrive(env, *args):
    result, report = backlogd_json("dlq", "redrive", "--json", *args, env=env)
    return result, report


def letter(prefix, key, reason="decode.wire_format", value=b"garbage", original="tasks.events", extra=()):
    """A dead letter as pipeline/dlq.c writes one (for the tests that need no pipeline)."""
    headers = [("traceparent", TRACEPARENT), ("dlq.reason", reason.encode()), ("dlq.detail", b"made up"),
               ("dlq.stage", b"ingest")]
    if original is not None:
        headers.append(("dlq.original.topic", (prefix + original if original.startswith("tasks.") else
                                               original).encode()))
    headers += [("dlq.original.partition", b"0"), ("dlq.original.offset", b"7"),
                ("dlq.original.timestamp", b"1795849200000"), ("dlq.attempts", b"1"),
                ("dlq.failed_at", b"2026-11-28T08:26:17.248Z"), ("dlq.processor", b"pytest"), *extra]
    return key, value, headers


def test_list_redrive_after_the_fix_and_redrive_again():
    prefix = unique_prefix("dlq")
    env = run_env(prefix)
    create_topics(env)
    events = prefix + "tasks.events"
    dlq_topic = prefix + "backlog.dlq"

    # Poison pills: a domain that is not configured (twice: one through backlogd produce, one through a
    # plain producer with headers) and wire-format garbage; and one good task.
    pill = json.dumps({"task_id": "train-1", "event_type": "SUBMITTED", "task_type": "fine_tune",
                       "domain": "training", "business_value": 0.4, "risk": 0.2})
    produced = backlogd("produce", "--no-validate", env=env, input=pill + "\n")
    assert produced.returncode == 0, produced.stderr
    train_2 = encode_event(task_event("train-2", domain="training"))
    produce_raw(events, [("train-2", train_2, [("traceparent", TRACEPARENT), ("x-bin", b"\x00\xff")]),
                         ("junk-1", b"not avro at all", [("traceparent", TRACEPARENT)]),
                         ("ok-1", encode_event(task_event("ok-1")), None)])
    run = Backlogd(pipeline_env(env))
    try:
        run.wait_for(r"-> " + dlq_topic.replace(".", r"\."), count=3)
        run.wait_for("handed on", count=1)
    finally:
        code, counts = run.stop()
    assert code == 0 and counts["dead_lettered"] == 3 and counts["handed_on"] == 1

    # list: by reason, every letter, none redriven
    listing = dlq_list(env)
    assert listing["topic"] == dlq_topic and listing["total"] == 3 and listing["redriven"] == 0
    assert {reason: row["count"] for reason, row in listing["by_reason"].items()} == \
        {"contract.violation": 2, "decode.wire_format": 1}
    for row in listing["by_reason"].values():
        assert row["redriven"] == 0 and row["first_failed_at"] <= row["last_failed_at"]
    records = {record["key"]: record for record in listing["records"]}
    assert set(records) == {"train-1", "train-2", "junk-1"}
    for key, record in records.items():
        assert record["reason"] == ("decode.wire_format" if key == "junk-1" else "contract.violation")
        assert record["original"]["topic"] == events and record["original"]["partition"] in range(PARTITIONS)
        assert record["original"]["offset"] >= 0 and record["original"]["timestamp"] > 0
        assert record["stage"] == "ingest" and record["attempts"] == 1
        assert record["processor"].startswith("backlogd ") and record["failed_at"].endswith("Z")
        assert record["dlq_partition"] in range(PARTITIONS) and record["dlq_offset"] >= 0
        assert record["redriven"] is False and "redriven_to" not in record
    assert records["train-1"]["detail"].startswith("domain:")
    assert records["train-2"]["schema_id"] == 2 and records["junk-1"]["schema_id"] is None

    # filters combine
    assert [r["key"] for r in dlq_list(env, "--reason", "decode.wire_format")["records"]] == ["junk-1"]
    assert dlq_list(env, "--topic", "tasks.events")["total"] == 3
    assert dlq_list(env, "--topic", events, "--reason", "contract.violation")["total"] == 2
    assert dlq_list(env, "--topic", "tasks.results")["total"] == 0
    assert dlq_list(env, "--since", "2099-01-01T00:00:00Z")["total"] == 0
    assert dlq_list(env, "--since", "2000-01-01T00:00:00+02:00", "--reason", "contract.violation",
                    "--reason", "decode.wire_format")["total"] == 3
    limited = dlq_list(env, "--limit", "1")
    assert limited["total"] == 3 and len(limited["records"]) == 1
    assert limited["records"][0]["failed_at"] == max(r["failed_at"] for r in listing["records"])
    assert "records" not in dlq_list(env, "--summary")
    text = backlogd("dlq", "list", env=env)
    assert text.returncode == 0, text.stderr
    assert f"{dlq_topic}: 3 dead letters, 0 redriven" in text.stdout
    assert any(line.split()[:3] == ["contract.violation", "2", "0"] for line in text.stdout.splitlines())
    junk_line = next(line for line in text.stdout.splitlines() if " junk-1 " in line)
    assert "decode.wire_format" in junk_line and f"{events}:" in junk_line and " no " in junk_line

    # a dry run publishes nothing
    before = len(read_topic(events))
    result, report = redrive(env, "--reason", "contract.violation", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert report["dry_run"] is True and report["totals"]["would_publish"] == 2
    assert {r["status"] for r in report["records"]} == {"would_publish"}
    assert len(read_topic(events)) == before

    # the redrive: the contract.violation letters go back to tasks.events, bytes and headers kept
    result, report = redrive(env, "--reason", "contract.violation")
    assert result.returncode == 0, result.stderr
    assert report["totals"] == {"published": 2, "would_publish": 0, "skipped": 0, "refused": 0, "failed": 0}
    letters = {m.key().decode(): m for m in read_topic(dlq_topic)}
    copies = {m.key().decode(): m for m in read_topic(events) if redriven_from(m)}
    assert set(copies) == {"train-1", "train-2"}
    for key, copy in copies.items():
        original = letters[key]
        record = records[key]
        assert copy.value() == original.value()
        assert copy.partition() == record["original"]["partition"]  # murmur2: where the original was
        assert redriven_from(copy) == f"{dlq_topic}:{original.partition()}:{original.offset()}"
        names = [name for name, _ in headers_of(copy)]
        assert names[-3:] == ["dlq.redriven.from", "dlq.redriven.at", "dlq.redriven.by"]
        assert not any(name.startswith("dlq.") for name in names[:-3])
        kept = [(n, v) for n, v in headers_of(original) if not n.startswith("dlq.")]
        assert headers_of(copy)[:-3] == kept
        marks = dict(headers_of(copy))
        assert marks["dlq.redriven.at"].decode().endswith("Z") and b"@" in marks["dlq.redriven.by"]
        target = next(r for r in report["records"] if r["key"] == key)["target"]
        assert target == {"topic": events, "partition": copy.partition(), "offset": copy.offset()}
    assert headers_of(copies["train-2"])[:2] == [("traceparent", TRACEPARENT), ("x-bin", b"\x00\xff")]

    listing = dlq_list(env)
    assert listing["redriven"] == 2 and listing["by_reason"]["contract.violation"]["redriven"] == 2
    for record in listing["records"]:
        assert record["redriven"] is (record["key"] != "junk-1")
    assert dlq_list(env, "--reason", "contract.violation")["records"][0]["redriven_to"]["topic"] == events

    # the fix: training becomes a configured domain; run accepts the redriven tasks
    fixed = run_env(prefix, BACKLOGD_DOMAINS=DOMAINS + ",training")
    create_topics(fixed)  # dispatch.training
    run = Backlogd(pipeline_env(fixed))
    try:
        run.wait_for("handed on", count=2)
    finally:
        code, counts = run.stop()
    assert code == 0 and counts["handed_on"] == 2 and counts["dead_lettered"] == 0
    result, state = backlogd_json("inspect", "--json", env=fixed)
    assert result.returncode == 0, result.stderr
    assert state["items"] == 3 and sum(state["by_domain"]["training"].values()) == 2

    # a second redrive publishes nothing
    result, report = redrive(fixed, "--reason", "contract.violation")
    assert result.returncode == 0, result.stderr
    assert report["totals"]["published"] == 0 and report["totals"]["skipped"] == 2
    assert {r["status"] for r in report["records"]} == {"skipped"}
    assert {r["earlier"]["offset"] for r in report["records"]} == {m.offset() for m in copies.values()}
    text = backlogd("dlq", "redrive", "--key", "train-1", env=fixed)
    assert text.returncode == 0, text.stderr
    assert "already redriven to " + events in text.stdout
    assert "0 published, 1 skipped (already redriven), 0 refused, 0 failed" in text.stdout
    assert len([m for m in read_topic(events) if redriven_from(m)]) == 2


def test_concurrent_redrives_publish_each_letter_once():
    """Eight redrives of every letter, some at once, some one after the other: the transactional id
    they share fences all but one at a time, and each looks for earlier redrives only after it fenced
    the others, so no letter is published twice, and the fenced ones publish nothing."""
    prefix = unique_prefix("dlqrace")
    env = run_env(prefix)
    create_topics(env)
    dlq_topic = prefix + "backlog.dlq"
    keyed = [letter(prefix, f"race-{i}", value=f"garbage {i}".encode()) for i in range(24)]
    keyless = [letter(prefix, None, value=f"keyless {i}".encode()) for i in range(4)]
    produce_raw(dlq_topic, keyed + keyless)
    processes, started = [], time.monotonic()
    for start in (0, 0, 0.3, 0.9, 1.0, 1.1, 1.2, 2.5):  # overlapping in every phase: read, fence, commit
        time.sleep(max(0.0, started + start - time.monotonic()))
        processes.append(subprocess.Popen([BACKLOGD, "dlq", "redrive", "--all", "--json"], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    published = 0
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode in (0, 1), stderr
        if stdout.strip():
            report = json.loads(stdout)
            published += report["totals"]["published"]
            if process.returncode == 1:  # fenced: nothing of its transaction was published
                assert report["totals"]["failed"] > 0 and report["totals"]["published"] == 0, stdout

    result, report = redrive(env, "--all")
    assert result.returncode == 0, result.stderr
    assert report["totals"]["published"] == 0 and report["totals"]["skipped"] == len(keyed + keyless)
    copies = [redriven_from(m) for m in read_topic(prefix + "tasks.events") if redriven_from(m)]
    assert len(copies) == len(set(copies)) == len(keyed + keyless) == published
    assert dlq_list(env)["redriven"] == len(keyed + keyless)


def test_a_redrive_that_died_mid_transaction_or_after_its_commit():
    """A redrive that died with its transaction open left nothing a read_committed reader sees: the next
    one aborts it (init_transactions under the same id) and publishes the letter. One that died after
    its commit left the mark: the next one skips the letter."""
    prefix = unique_prefix("dlqcrash")
    env = run_env(prefix)
    create_topics(env)
    dlq_topic, events = prefix + "backlog.dlq", prefix + "tasks.events"
    produce_raw(dlq_topic, [letter(prefix, "open-1"), letter(prefix, "done-1")])
    positions = {r["key"]: (r["dlq_partition"], r["dlq_offset"]) for r in dlq_list(env)["records"]}

    def copy_of(key):
        partition, offset = positions[key]
        return (key, b"garbage", {"traceparent": TRACEPARENT,
                                  "dlq.redriven.from": f"{dlq_topic}:{partition}:{offset}",
                                  "dlq.redriven.at": "2026-11-28T08:30:00.000Z", "dlq.redriven.by": "ghost@nowhere"})

    transactional = {"bootstrap.servers": BOOTSTRAP, "transactional.id": prefix + "group-dlq-redrive",
                     "partitioner": "murmur2_random"}
    finished = Producer(transactional)
    finished.init_transactions(30)
    finished.begin_transaction()
    key, value, headers = copy_of("done-1")
    finished.produce(events, key=key, value=value, headers=headers)
    finished.commit_transaction(30)
    del finished

    hung = Producer(transactional)
    hung.init_transactions(30)
    hung.begin_transaction()
    key, value, headers = copy_of("open-1")
    hung.produce(events, key=key, value=value, headers=headers)
    assert hung.flush(30) == 0  # written to the log, never committed: the process "died" here

    result, report = redrive(env, "--all")
    assert result.returncode == 0, result.stderr
    status = {r["key"]: r["status"] for r in report["records"]}
    assert status == {"open-1": "published", "done-1": "skipped"}
    copies = [m for m in read_topic(events) if redriven_from(m)]
    assert sorted(m.key().decode() for m in copies) == ["done-1", "open-1"]
    assert dict(headers_of(next(m for m in copies if m.key() == b"open-1")))["dlq.redriven.by"] != b"ghost@nowhere"
    result, report = redrive(env, "--all")
    assert result.returncode == 0 and report["totals"]["skipped"] == 2 and report["totals"]["published"] == 0


def test_letters_from_elsewhere_are_refused():
    prefix = unique_prefix("dlqrefuse")
    env = run_env(prefix)
    create_topics(env)
    dlq_topic, events = prefix + "backlog.dlq", prefix + "tasks.events"
    produce_raw(dlq_topic, [letter(prefix, "good-1"),
                            letter(prefix, "other-1", original="somebody.elses.topic"),
                            letter(prefix, "state-1", original="backlog.state"),
                            letter(prefix, "none-1", original=None)])
    listing = dlq_list(env)
    assert listing["total"] == 4
    positions = {r["key"]: f'{r["dlq_partition"]}:{r["dlq_offset"]}' for r in listing["records"]}

    result, report = redrive(env, "--all")
    assert result.returncode == 1
    status = {r["key"]: r["status"] for r in report["records"]}
    assert status == {"good-1": "published", "other-1": "refused", "state-1": "refused", "none-1": "refused"}
    errors = {r["key"]: r.get("error", "") for r in report["records"]}
    assert "'somebody.elses.topic' is not an input topic" in errors["other-1"]
    assert f"{events} or {prefix}tasks.results" in errors["state-1"]
    assert "no dlq.original.topic" in errors["none-1"]
    assert [m.key() for m in read_topic(events)] == [b"good-1"]
    assert not any(name.startswith("dlq.") and not name.startswith("dlq.redriven.")
                   for name, _ in headers_of(read_topic(events)[0]))

    text = backlogd("dlq", "redrive", "--offset", positions["other-1"], env=env)
    assert text.returncode == 1
    assert "refused" in text.stdout and "somebody.elses.topic" in text.stdout
    missing = backlogd("dlq", "redrive", "--offset", "0:999999", env=env)
    assert missing.returncode == 1 and "--offset 0:999999" in missing.stderr
    skipped = backlogd("dlq", "redrive", "--offset", positions["good-1"], "--reason", "decode.wire_format", env=env)
    assert skipped.returncode == 0, skipped.stderr
    assert "0 published, 1 skipped" in skipped.stdout
    nothing = backlogd("dlq", "redrive", "--key", "nobody", env=env)
    assert nothing.returncode == 0 and "no letter in" in nothing.stderr
