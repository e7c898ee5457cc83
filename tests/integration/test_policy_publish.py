"""`backlogd policy publish` against the real broker: the record is read back
with confluent_kafka (key = the policy's name, value = the document,
compacted), a new version lands behind the old one under the same key, and a
missing or non-compacted backlog.policy is refused without producing (a broker
must not auto-create it)."""
import json
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest_common import SOURCE_DIR, backlogd, backlogd_json
from kafka_tools import BOOTSTRAP, broker_env, unique_prefix

EXAMPLE = SOURCE_DIR / "config" / "policy.json"


def read_policy_topic(topic, timeout=30):
    """Every record of the single partition of `topic`, in offset order."""
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"policy-{uuid.uuid4().hex}",
                         "enable.partition.eof": True, "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    records, deadline = [], time.monotonic() + timeout
    try:
        while True:
            assert time.monotonic() < deadline, f"{topic}: no end after {timeout} s"
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                break
            records.append(message)
    finally:
        consumer.close()
    return records


def whitespace_outside_strings(text):
    """How many whitespace characters lie between the tokens of a JSON text (0 when compacted)."""
    count, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in " \t\r\n":
            count += 1
    return count


def topic_names():
    return set(AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=30).topics)


def test_publish_then_read_back(tmp_path):
    prefix = unique_prefix("policy")
    env = broker_env(prefix)
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr

    result, outcome = backlogd_json("policy", "publish", "--json", EXAMPLE, env=env)
    assert result.returncode == 0, result.stderr
    topic = prefix + "backlog.policy"
    assert outcome["ok"] and outcome["published"] and not outcome["dry_run"]
    assert outcome["topic"] == topic and outcome["key"] == "platform" and outcome["label"] == "platform@3"
    assert f"published platform@3 to {topic} (key platform, partition 0, offset {outcome['offset']}" in result.stderr

    records = read_policy_topic(topic)
    assert len(records) == 1
    record = records[0]
    assert record.key() == b"platform"
    assert record.partition() == outcome["partition"] == 0 and record.offset() == outcome["offset"]
    value = record.value().decode()
    assert whitespace_outside_strings(value) == 0 and whitespace_outside_strings(EXAMPLE.read_text()) > 0
    assert len(record.value()) == outcome["bytes"]
    assert json.loads(value) == json.loads(EXAMPLE.read_text())
    # What was published checks as the same policy.
    published = tmp_path / "published.json"
    published.write_text(value)
    _, original = backlogd_json("policy", "check", "--json", EXAMPLE)
    _, again = backlogd_json("policy", "check", "--json", published)
    assert again["ok"] and again["policy"] == original["policy"]

    # A new version goes behind the old one, under the same key.
    document = json.loads(EXAMPLE.read_text())
    document["version"] = "4"
    del document["canary"]
    newer = tmp_path / "v4.json"
    newer.write_text(json.dumps(document, indent=2))
    result = backlogd("policy", "publish", newer, env=env)
    assert result.returncode == 0, result.stderr
    records = read_policy_topic(topic)
    assert [r.key() for r in records] == [b"platform", b"platform"]
    assert json.loads(records[-1].value())["version"] == "4"
    assert records[-1].offset() > records[0].offset()


def test_bad_policy_produces_nothing():
    prefix = unique_prefix("policybad")
    env = broker_env(prefix)
    assert backlogd("topics", "create", env=env).returncode == 0
    result = backlogd("policy", "publish", SOURCE_DIR / "tests" / "fixtures" / "policy" / "quota.json", env=env)
    assert result.returncode == 1
    assert "nothing published" in result.stderr
    assert read_policy_topic(prefix + "backlog.policy") == []


def test_missing_topic_is_not_auto_created():
    prefix = unique_prefix("policymissing")
    result, outcome = backlogd_json("policy", "publish", "--json", EXAMPLE, env=broker_env(prefix))
    assert result.returncode == 1
    assert f"topic {prefix}backlog.policy does not exist: create it with 'backlogd topics create'" in result.stderr
    assert not outcome["ok"] and not outcome["published"] and "does not exist" in outcome["error"]
    assert not any(name.startswith(prefix) for name in topic_names())


def test_topic_that_is_not_compacted_is_refused():
    prefix = unique_prefix("policydelete")
    topic = prefix + "backlog.policy"
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})  # kept alive until the future resolves
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replication_factor=1, config={"cleanup.policy": "delete"})])
    futures[topic].result(timeout=30)
    result = backlogd("policy", "publish", EXAMPLE, env=broker_env(prefix))
    assert result.returncode == 1
    assert f"topic {topic} has cleanup.policy=delete, needs compact" in result.stderr
    assert read_policy_topic(topic) == []
