"""SPEC §14 against the real broker, with workers written as a worker would
write them: a domain whose workers fail 80 % of their tasks opens its circuit
breaker, dispatches nothing and dead-letters nothing while it is open, sends
probes after its cool-down and closes when the workers have recovered; a task
that keeps heartbeating past max_runtime_ms fails with runtime_exceeded; a
task out of retries spawns a remediation task, runs again once that one
completed, and is dead-lettered when its rounds are spent."""
import json
import re
import time
from datetime import datetime

from confluent_kafka import Consumer

from conftest_common import backlogd_json
from kafka_tools import BOOTSTRAP, unique_prefix
from pipeline import Backlogd, consume_all
from records import decode, decode_transitions, result, task_event
from test_backlog import create_topics, report, submit, wait_for_state
from test_backpressure import environment
from test_operate import free_port

DOMAIN = "evaluation"


def write_policy(tmp_path, prefix, **domain_settings):
    policy = {"name": "resilience", "version": "1", "weights": {"aging": 1.0},
              "defaults": {"worker_group": prefix + "{domain}-workers", "retry_base_ms": 100, "retry_cap_ms": 200},
              "domains": {DOMAIN: domain_settings}}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return path


class Worker:
    """Reads dispatch.<domain> and answers each decision through `answer(decision) -> [results]`."""

    def __init__(self, prefix, domain):
        self.prefix = prefix
        self.consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"{prefix}{domain}-workers",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "isolation.level": "read_committed"})
        self.consumer.subscribe([f"{prefix}dispatch.{domain}"])
        self.read = []

    def serve(self, answer, seconds, until=None):
        """Answers for up to `seconds`, or until `until()` is true; returns the decisions read meanwhile."""
        read, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline and not (until and until()):
            message = self.consumer.poll(0.2)
            if message is None or message.error():
                continue
            decision = decode(message.value())
            read.append(decision)
            self.read.append(decision)
            results = answer(decision)
            if results:
                report(self.prefix, *results)
            self.consumer.commit(message=message, asynchronous=False)
        return read

    def close(self):
        self.consumer.close()


def started(decision):
    return result(decision["task_id"], "STARTED", decision["attempt"])


def failed(decision, code="OOM"):
    return result(decision["task_id"], "FAILED", decision["attempt"],
                  error={"code": code, "message": "worker failed", "retryable": True})


def completed(decision):
    return result(decision["task_id"], "COMPLETED", decision["attempt"])


def history(prefix, task_id, expected):
    records = consume_all(prefix + "backlog.transitions", expected=expected, timeout=20)
    return [t for t in decode_transitions(records) if t["task_id"] == task_id]


def test_breaker_opens_on_failures_holds_the_domain_and_closes_on_recovery(tmp_path):
    prefix = unique_prefix("breaker")
    policy = write_policy(tmp_path, prefix, max_attempts=5, breaker={
        "failure_share": 0.5, "window_ms": 10000, "min_results": 10, "cooldown_ms": 3000, "probes": 2})
    port = free_port()
    env = environment(prefix, policy, BACKLOGD_HTTP_PORT=port)
    create_topics(env)
    run = Backlogd(env)
    worker = Worker(prefix, DOMAIN)
    tasks = [f"b{i:02d}" for i in range(30)]
    answered = [0]

    def outage(decision):  # 4 of every 5 attempts fail once started
        answered[0] += 1
        return [started(decision), failed(decision) if answered[0] % 5 else completed(decision)]

    try:
        run.wait_for("snapshots")
        submit(prefix, *[task_event(t, domain=DOMAIN) for t in tasks])
        worker.serve(outage, 60, until=lambda: run.messages("breaker closed -> open"))
        opened = run.wait_for(f"domain {DOMAIN} breaker closed -> open", timeout=5)
        assert "FAILED" in opened[0] and "no attempt is spent" in opened[0]
        # open: the workers go on failing what was dispatched before; nothing new goes through the cool-down
        worker.serve(outage, 2)
        # the READY tasks wait for the breaker: the instance's /metrics says so, backlog.state alone cannot
        listed, waiting = backlogd_json("tasks", "list", "--waiting-for", "breaker", "--json", "--metrics",
                                        f"http://127.0.0.1:{port}/metrics", env=env)
        assert listed.returncode == 0, listed.stderr
        assert waiting["matched"] > 0 and {t["domain"] for t in waiting["tasks"]} == {DOMAIN}, waiting
        assert all(t["state"] == "READY" and t["waiting_for"][0]["reason"] == "breaker" for t in waiting["tasks"])
        blind, unknown = backlogd_json("tasks", "list", "--waiting-for", "breaker", "--json", env=env)
        assert unknown["matched"] == 0 and "--metrics" in blind.stderr
        # recovered: the probes complete, the breaker closes, and every task completes
        worker.serve(completed_answer, 60, until=lambda: run.messages(f"domain {DOMAIN} breaker half_open -> closed"))
        run.wait_for(f"domain {DOMAIN} breaker half_open -> closed", timeout=5)
        worker.serve(completed_answer, 60, until=lambda: all_completed(prefix, tasks))
        assert all_completed(prefix, tasks)
    finally:
        worker.close()
        code, counts = run.stop()
    assert code == 0, counts
    opened_at, half_open_at, closed_at = (logged_at(run, f"domain {DOMAIN} breaker {change}")
                                          for change in ("closed -> open", "open -> half_open", "half_open -> closed"))
    assert half_open_at - opened_at >= 3000  # the cool-down
    # (a decision in the very millisecond of the opening was made before it, in the same loop turn)
    held = [d for d in worker.read if opened_at < d["decided_at"] < half_open_at]
    assert held == [], ("dispatched while open", opened_at, [(d["dispatch_id"], d["decided_at"]) for d in held])
    probes = [d for d in worker.read if d["probe"]]
    assert len(probes) == 2 and all(half_open_at <= d["decided_at"] <= closed_at for d in probes), probes
    assert not [d for d in worker.read if half_open_at <= d["decided_at"] < closed_at and not d["probe"]]
    assert consume_all(prefix + "backlog.dlq", expected=0, timeout=3) == []


def logged_at(run, pattern):
    """The time (ms since 1970) of the first log line whose message matches `pattern`."""
    for line in run.lines:
        entry = json.loads(line)
        if re.search(pattern, entry.get("msg", "")):
            return int(datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)
    raise AssertionError(f"no log line /{pattern}/")


def completed_answer(decision):
    return [started(decision), completed(decision)]


def all_completed(prefix, tasks):
    from records import read_state
    state = read_state(prefix, timeout=2)
    return all(state.get(t, {}).get("state") == "COMPLETED" for t in tasks)


def test_a_heartbeating_task_past_max_runtime_fails(tmp_path):
    prefix = unique_prefix("runtime")
    policy = write_policy(tmp_path, prefix, max_attempts=1, max_runtime_ms=2000)
    env = environment(prefix, policy)
    create_topics(env)
    run = Backlogd(env)
    worker = Worker(prefix, DOMAIN)
    started = {}

    def start(decision):
        started[decision["task_id"]] = decision
        return [result(decision["task_id"], "STARTED", decision["attempt"])]

    try:
        run.wait_for("snapshots")
        submit(prefix, task_event("long", domain=DOMAIN))
        worker.serve(start, 30, until=lambda: started)
        decision = started["long"]
        beats = 0
        deadline = time.monotonic() + 4  # a heartbeat every 300 ms, twice the bound: alive, only too slow
        while time.monotonic() < deadline:
            report(prefix, result("long", "HEARTBEAT", decision["attempt"]))
            beats += 1
            time.sleep(0.3)
        dead = wait_for_state(prefix, "long", "DEAD", timeout=5)
    finally:
        worker.close()
        code, counts = run.stop()
    assert code == 0, counts
    assert beats >= 10 and counts["stale"] >= 1, counts  # the heartbeats after the bound came too late
    assert dead["last_error"]["code"] == "runtime_exceeded"
    steps = [(t["from_state"], t["to_state"], t["cause"]) for t in history(prefix, "long", 6)]
    assert ("RUNNING", "FAILED", "runtime_exceeded") in steps and steps[-1][1] == "DEAD"
    letters = consume_all(prefix + "backlog.dlq", expected=1)
    assert len(letters) == 1 and b"runtime_exceeded" in dict(letters[0].headers())["dlq.detail"]


def test_a_task_out_of_retries_is_remediated_then_runs_again_and_stops_after_its_rounds(tmp_path):
    prefix = unique_prefix("remedy")
    policy = write_policy(tmp_path, prefix, max_attempts=1, remediation=[
        {"reason": "retries.exhausted", "task_type": "batch_inference", "remediation_task_type": "fix",
         "max_rounds": 1}])
    env = environment(prefix, policy)
    create_topics(env)
    run = Backlogd(env)
    worker, fixer = Worker(prefix, DOMAIN), Worker(prefix, "remediation")
    try:
        run.wait_for("snapshots")
        submit(prefix, task_event("job", domain=DOMAIN))
        first = worker.serve(lambda d: [failed(d, "BAD_INPUT")], 30, until=lambda: worker.read)
        assert [(d["task_id"], d["attempt"]) for d in first] == [("job", 1)]
        fixes = fixer.serve(completed_answer, 30, until=lambda: fixer.read)
        assert [(d["task_id"], d["task_type"]) for d in fixes] == [("job:remediation:1", "fix")]
        assert fixes[0]["labels"] == {"remediation.of": "job", "remediation.round": "1",
                                      "remediation.task_type": "batch_inference",
                                      "remediation.error_code": "BAD_INPUT"}
        second = worker.serve(lambda d: [failed(d, "BAD_INPUT")], 30, until=lambda: len(worker.read) >= 2)
        assert [(d["task_id"], d["attempt"]) for d in second] == [("job", 2)]
        dead = wait_for_state(prefix, "job", "DEAD")
        fixer.serve(completed_answer, 2)
    finally:
        worker.close()
        fixer.close()
        code, counts = run.stop()
    assert code == 0, counts
    assert dead["labels"]["backlogd.remediation.round"] == "1"
    assert len(fixer.read) == 1, "a second remediation past max_rounds"
    steps = [(t["from_state"], t["to_state"], t["cause"]) for t in history(prefix, "job", 12)]
    assert ("FAILED", "BLOCKED", "remediation") in steps
    assert ("BLOCKED", "READY", "remediated") in steps
    assert steps[-1] == ("FAILED", "DEAD", "FAILED")
    fix_steps = [(t["from_state"], t["to_state"]) for t in history(prefix, "job:remediation:1", 12)]
    assert fix_steps[0] == (None, "QUEUED") and fix_steps[-1] == ("RUNNING", "COMPLETED") or \
        fix_steps[-1] == ("DISPATCHED", "COMPLETED")
    letters = consume_all(prefix + "backlog.dlq", expected=1)
    assert len(letters) == 1 and decode(letters[0].value())["task_id"] == "job"
    # the letter is the task's submission as its producer sent it: backlogd's own labels stay out, so a redrive passes
    assert not [k for k in decode(letters[0].value())["labels"] if k.startswith("backlogd.")]
