"""`backlogd topics create` against the real broker, checked with Kafka's own
kafka-topics tool."""
import shutil
import subprocess

import pytest

from conftest_common import BACKLOGD, backlogd, backlogd_json
from kafka_tools import broker_env, create_topic, describe_topics, unique_prefix

COPARTITIONED = ["tasks.events", "tasks.results", "tasks.control", "backlog.transitions", "backlog.state", "backlog.deps"]
DOMAINS = ["data_preparation", "model_inference", "evaluation", "remediation"]
ALL_ROLES = COPARTITIONED + ["backlog.dlq", "backlog.policy"] + [f"dispatch.{d}" for d in DOMAINS]


def test_creates_every_topic_then_changes_nothing():
    prefix = unique_prefix("create")
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=4)
    first = backlogd("topics", "create", env=env)
    assert first.returncode == 0, first.stderr
    assert "12 created" in first.stderr

    topics = describe_topics(prefix)
    assert sorted(topics) == sorted(prefix + role for role in ALL_ROLES)
    for role in ALL_ROLES:
        topic = topics[prefix + role]
        assert topic["partitions"] == (1 if role == "backlog.policy" else 4), role
        compacted = role in ("backlog.state", "backlog.policy")
        assert topic["configs"]["cleanup.policy"] == ("compact" if compacted else "delete"), role
    assert topics[prefix + "backlog.transitions"]["configs"]["retention.ms"] == "7776000000"

    second, outcome = backlogd_json("topics", "create", "--json", env=env)
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stderr
    assert outcome["created"] == 0 and outcome["unchanged"] == 12 and outcome["ok"]
    # Nothing was deleted and re-created: the topic ids are the same.
    assert {n: t["topic_id"] for n, t in describe_topics(prefix).items()} == \
           {n: t["topic_id"] for n, t in topics.items()}


def test_mismatched_topics_are_reported_and_nothing_is_created():
    prefix = unique_prefix("mismatch")
    create_topic(prefix + "tasks.events", 6, cleanup_policy="delete")
    create_topic(prefix + "tasks.results", 3, cleanup_policy="delete")
    create_topic(prefix + "backlog.state", 6, cleanup_policy="delete")

    result, outcome = backlogd_json("topics", "create", "--json", env=broker_env(prefix))
    assert result.returncode == 1
    assert "mismatch" in result.stderr and "nothing was created" in result.stderr
    problems = {t["role"]: [p["what"] for p in t["problems"]] for t in outcome["topics"]}
    assert "has 3 partitions, configured 6" in problems["tasks.results"]
    assert any("not co-partitioned with " + prefix + "tasks.events" in p for p in problems["tasks.results"])
    assert "has cleanup.policy=delete, needs compact" in problems["backlog.state"]
    assert outcome["mismatches"] == 3 and not outcome["ok"]
    # The cluster holds only what the test made.
    assert sorted(describe_topics(prefix)) == sorted(prefix + r for r in
                                                     ["tasks.events", "tasks.results", "backlog.state"])

    text = backlogd("topics", "create", env=broker_env(prefix))
    assert text.returncode == 1
    assert f"{prefix}backlog.state" in text.stdout and "needs compact" in text.stdout


def test_dry_run_creates_nothing():
    prefix = unique_prefix("dryrun")
    create_topic(prefix + "tasks.events", 6, cleanup_policy="delete")
    result, outcome = backlogd_json("topics", "create", "--dry-run", "--json", env=broker_env(prefix))
    assert result.returncode == 0, result.stderr
    actions = {t["role"]: t["action"] for t in outcome["topics"]}
    assert actions["tasks.events"] == "unchanged" and actions["backlog.state"] == "would_create"
    assert list(describe_topics(prefix)) == [prefix + "tasks.events"]


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_no_leaks_under_valgrind():
    prefix = unique_prefix("valgrind")
    result = subprocess.run(["valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                             "--show-leak-kinds=definite,indirect", "--error-exitcode=99",
                             BACKLOGD, "topics", "create"], env=broker_env(prefix), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
