"""replay --policy, the offline canary, against what `backlogd run` really
wrote: a domain throttled at a small max_lag keeps a READY queue while its
workers catch up slowly, so the recorded run dispatched oldest first. Its
policy weighs only aging, which orders exactly as FIFO does (lag bounds come
only with a policy). Replayed under a candidate that weighs business_value,
the order changes and the high-value tasks wait less; replayed under the
recorded policy itself, every decision is the same; the same topics give
the same output twice; a refused candidate and the usage errors stop early."""
import json
import time

from conftest_common import backlogd, backlogd_json
from kafka_tools import unique_prefix
from pipeline import Backlogd
from records import task_event
from test_backlog import create_topics, submit
from test_backpressure import Workers, environment

# Values in an order that FIFO does not follow: the candidate should pull the high ones forward.
VALUES = [0.05, 0.95, 0.30, 0.80, 0.10, 0.70, 0.20, 0.90, 0.40, 0.60, 0.15, 0.85, 0.25, 0.75, 0.35, 0.65]
TASKS = {f"w{i:02d}": value for i, value in enumerate(VALUES)}


def write(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def recorded_policy(tmp_path, prefix):
    """Oldest first, as FIFO, with evaluation throttled at 2 dispatches its workers have not read."""
    return write(tmp_path, "recorded.json", {
        "name": "oldest-first", "version": "1", "weights": {"aging": 1.0},
        "defaults": {"worker_group": prefix + "{domain}-workers", "max_lag": 1000, "resume_lag": 500},
        "domains": {"evaluation": {"max_lag": 2, "resume_lag": 1}}})


def record_a_fifo_history(tmp_path):
    """Runs the pipeline over the 16 tasks until a slow worker has read them all; returns the environment."""
    prefix = unique_prefix("whatif")
    env = environment(prefix, recorded_policy(tmp_path, prefix))
    create_topics(env)
    run = Backlogd(env)
    workers = None
    try:
        run.wait_for("snapshots")
        submit(prefix, *[task_event(task, domain="evaluation", business_value=value)
                         for task, value in TASKS.items()])
        run.wait_for("domain evaluation throttled")
        time.sleep(1)  # a READY queue of 14 forms behind the 2 dispatched
        workers = Workers(prefix, "evaluation")
        read, deadline = [], time.monotonic() + 90
        while len(read) < len(TASKS) and time.monotonic() < deadline:
            read += workers.work(1)
        assert sorted(d["task_id"] for d in read) == sorted(TASKS), f"workers read {len(read)}"
    finally:
        if workers:
            workers.close()
        code, counts = run.stop()
    assert code == 0 and counts["dispatched"] == len(TASKS), counts
    return env


def evaluation(report):
    domains = {d["domain"]: d for d in report["domains"]}
    assert set(domains) == {"evaluation"}, report
    return domains["evaluation"]


def test_replay_policy_against_what_run_recorded(tmp_path):
    env = record_a_fifo_history(tmp_path)
    value_first = write(tmp_path, "value-first.json", {
        "name": "value-first", "version": "2", "weights": {"business_value": 1.0}})

    first, report = backlogd_json("replay", "--policy", value_first, "--json", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    again = backlogd("replay", "--policy", value_first, "--json", env=env)
    assert again.returncode == 0 and again.stdout == first.stdout, "the same topics gave another answer"

    assert report["candidate"] == "value-first@2" and report["canary"] is None
    assert report["recorded_policies"] == [{"policy": "oldest-first@1", "decisions": len(TASKS)}]
    assert report["unreadable"] == 0 and report["decisions_skipped"] == 0
    assert report["transitions"] == 3 * len(TASKS)  # QUEUED, READY, DISPATCHED: the workers report nothing
    domain = evaluation(report)
    assert domain["episodes"] == domain["decisions"] == domain["candidate_decisions"] == len(TASKS)
    assert domain["both_dispatched"] == len(TASKS)
    assert domain["same_task"] < len(TASKS) - 4, domain
    assert domain["kendall_tau"] < 0.9, domain
    # the same tasks dispatched at the same times: the same mean wait, spread differently
    assert domain["recorded"]["dispatched"] == domain["candidate"]["dispatched"] == len(TASKS)
    assert abs(domain["recorded"]["mean_wait_ms"] - domain["candidate"]["mean_wait_ms"]) < 1e-6
    assert domain["candidate"]["value_weighted_mean_wait_ms"] < domain["recorded"]["value_weighted_mean_wait_ms"]
    assert domain["recorded"]["expired"] == domain["candidate"]["expired"] == 0
    assert domain["candidate"]["waiting"] == 0
    # high-value tasks wait less, low-value ones more (ranks move too: a 0.35 behind many low ones also gains)
    sooner, later = domain["sooner"], domain["later"]
    assert len(sooner) == len(later) == 5, domain
    assert sooner[0]["business_value"] >= 0.6 and later[0]["business_value"] <= 0.4, domain
    assert sum(m["business_value"] >= 0.6 for m in sooner) >= 3, sooner
    assert sum(m["business_value"] <= 0.4 for m in later) >= 3, later
    assert sum(m["business_value"] for m in sooner) / 5 > sum(m["business_value"] for m in later) / 5 + 0.2
    for move in domain["sooner"] + domain["later"]:
        assert move["task_id"] in TASKS and move["attempt"] == 1
        assert move["business_value"] == TASKS[move["task_id"]]
        assert move["change_ms"] == move["candidate"]["wait_ms"] - move["recorded"]["wait_ms"]
        assert move["recorded"]["outcome"] == move["candidate"]["outcome"] == "dispatched"
    best = domain["sooner"][0]
    assert best["change_ms"] < 0 and best["candidate"]["position"] < best["recorded"]["position"]

    # the recorded policy itself decides as recorded
    same, replayed = backlogd_json("replay", "--policy", recorded_policy(tmp_path, "unused."), "--json", env=env)
    assert same.returncode == 0, same.stderr
    domain = evaluation(replayed)
    assert domain["same_task"] == len(TASKS) and domain["kendall_tau"] == 1.0, domain
    assert domain["sooner"] == [] and domain["later"] == []
    assert domain["candidate"] == domain["recorded"]

    # the text form says the same
    text = backlogd("replay", "--policy", value_first, env=env)
    assert text.returncode == 0, text.stderr
    assert "candidate value-first@2" in text.stdout and f"{len(TASKS)} by oldest-first@1" in text.stdout
    assert "domain evaluation: 16 READY episodes, 16 recorded decisions; the candidate made 16" in text.stdout
    assert "sooner under the candidate" in text.stdout and "later under the candidate" in text.stdout
    assert text.stdout == backlogd("replay", "--policy", value_first, env=env).stdout


def test_a_refused_candidate_and_usage_errors_stop_before_kafka(tmp_path):
    env = environment(unique_prefix("whatifbad"), tmp_path / "unused.json")
    env["BACKLOGD_POLICY_FILE"] = ""
    bad = write(tmp_path, "bad.json", {"name": "bad", "version": "1", "weights": {"aging": 99}})
    refused = backlogd("replay", "--policy", bad, env=env, timeout=30)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "weights.aging" in refused.stderr and "refused" in refused.stderr
    missing = backlogd("replay", "--policy", tmp_path / "nowhere.json", env=env, timeout=30)
    assert missing.returncode == 1 and "cannot open" in missing.stderr
    for args in [("replay",), ("replay", "--verify", "--policy", bad), ("replay", "--policy", "")]:
        result = backlogd(*args, env=env, timeout=10)
        assert result.returncode == 2 and result.stdout == "", args
