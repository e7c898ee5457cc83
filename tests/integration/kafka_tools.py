"""The real Kafka command-line tools, run through scripts/testenv.sh with the
classpath of the broker the suite started: the tests check the cluster with
them rather than trusting backlogd's own account of what it did."""
import os
import re
import subprocess
import uuid

from conftest_common import SOURCE_DIR, clean_env

TESTENV = str(SOURCE_DIR / "scripts" / "testenv.sh")
BOOTSTRAP = os.environ.get("BACKLOGD_TEST_BOOTSTRAP", "127.0.0.1:19092")
REGISTRY = os.environ.get("BACKLOGD_TEST_REGISTRY", "http://127.0.0.1:18081/apis/ccompat/v7")


def unique_prefix(name):
    """A topic prefix no other test uses, so tests share one broker safely."""
    return f"t{uuid.uuid4().hex[:8]}.{name}."


def broker_env(prefix, **overrides):
    """The environment in which backlogd talks to the test broker with this prefix. The HTTP endpoint
    is off unless a test turns it on: instances running side by side would share its port."""
    settings = dict(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=BOOTSTRAP, BACKLOGD_TOPICS_PREFIX=prefix, BACKLOGD_HTTP_PORT=0)
    settings.update(overrides)
    return clean_env(**settings)


def kafka_tool(tool, *args, check=True):
    result = subprocess.run([TESTENV, "tool", tool, "--bootstrap-server", BOOTSTRAP, *args],
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def create_topic(name, partitions, **configs):
    args = ["--create", "--topic", name, "--partitions", str(partitions), "--replication-factor", "1"]
    for key, value in configs.items():
        args += ["--config", f"{key.replace('_', '.')}={value}"]
    kafka_tool("kafka-topics", *args)


def describe_topics(prefix):
    """{name: {"partitions", "replication", "topic_id", "configs"}} for every topic starting with prefix,
    as kafka-topics --describe prints them."""
    result = kafka_tool("kafka-topics", "--describe", "--topic", re.escape(prefix) + ".*")
    topics = {}
    for line in result.stdout.splitlines():
        fields = dict(re.findall(r"(\w+): ?([^\t]*)", line.strip()))
        if "PartitionCount" not in fields:
            continue
        configs = dict(item.split("=", 1) for item in fields.get("Configs", "").split(",") if "=" in item)
        topics[fields["Topic"]] = {"partitions": int(fields["PartitionCount"]),
                                   "replication": int(fields["ReplicationFactor"]),
                                   "topic_id": fields["TopicId"], "configs": configs}
    return topics
