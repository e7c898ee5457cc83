"""/healthz against the real broker: it tells the truth about progress.

An idle instance stays healthy long after its last commit. Then the broker
stops (SIGSTOP) with a batch open: nothing commits while the loop still
turns, its heartbeat fresh. /healthz turns 503 with the reason within
health.max_commit_age_ms, and the metrics show how long the work has waited.
Once the broker is back, the instance commits and /healthz is 200 again.
(Aborts in a row, the other rule, are unit-tested: a real broker aborts
batch after batch only while a culprit is sought, and that commits between.)
"""
import os
import signal
import re
import time

from kafka_tools import unique_prefix
from pipeline import Backlogd
from records import task_event, wait_for_all
from test_backlog import create_topics, environment, submit
from test_isolation import broker_pid
from test_operate import free_port, get

# Above commit.interval_ms + transaction.timeout_ms (2000 + 3000). Short, so that the broker stops only a few
# seconds: a long stop can fence the producer and keep the broker itself busy for a while after it returns.
MAX_COMMIT_AGE_MS = 6000
# Long enough that the batch the first input opens is still open when the broker stops right after: with
# 100 ms, 200 tasks could be consumed and committed before the stop, or not consumed yet, and then nothing
# waits and /healthz rightly stays 200.
COMMIT_INTERVAL_MS = 2000


def consumed(port):
    """Input records the instance has consumed so far (backlogd_ingest_events_total, every topic)."""
    _, text = get(port, "/metrics")
    return sum(float(v) for v in re.findall(r"^backlogd_ingest_events_total\{[^}]*\} (\S+)$", text, re.M))


def gauge(port, name):
    _, text = get(port, "/metrics")
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} is not in /metrics"
    return float(match.group(1))


def wait_for_healthz(port, status, timeout):
    deadline = time.monotonic() + timeout
    answer = get(port, "/healthz")
    while answer[0] != status and time.monotonic() < deadline:
        time.sleep(0.25)
        answer = get(port, "/healthz")
    return answer


def test_healthz_fails_while_nothing_commits_and_passes_again():
    prefix = unique_prefix("health")
    port = free_port()
    env = environment(prefix, BACKLOGD_HTTP_PORT=port, BACKLOGD_HTTP_ADDRESS="127.0.0.1",
                      BACKLOGD_TRANSACTION_TIMEOUT_MS=3000, BACKLOGD_COMMIT_INTERVAL_MS=COMMIT_INTERVAL_MS,
                      BACKLOGD_HEALTH_MAX_COMMIT_AGE_MS=MAX_COMMIT_AGE_MS,
                      BACKLOGD_HEALTH_MAX_ABORTS_IN_ROW=1000000)  # here the commit age is what fails
    create_topics(env)
    total = 200
    run = Backlogd(env)
    try:
        run.wait_for("snapshots")
        # Idle for longer than the limit: nothing waits, so nothing is stalled.
        time.sleep(MAX_COMMIT_AGE_MS / 1000 + 3)  # from start-up, whose first commit is the partitions' ends
        assert get(port, "/healthz") == (200, "ok\n")
        assert gauge(port, "backlogd_pipeline_last_commit_age_seconds") > MAX_COMMIT_AGE_MS / 1000
        assert gauge(port, "backlogd_pipeline_stalled_seconds") == 0

        pid = broker_pid()
        submit(prefix, *[task_event(f"h{i}") for i in range(total)])
        deadline = time.monotonic() + 10
        while consumed(port) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert consumed(port) > 0, "the instance consumed nothing"
        os.kill(pid, signal.SIGSTOP)  # with the batch its input opened still open (commit.interval_ms)
        try:
            assert get(port, "/healthz")[0] == 200, "failing before the limit"
            status, body = wait_for_healthz(port, 503, timeout=MAX_COMMIT_AGE_MS / 1000 + 30)
            stalled = gauge(port, "backlogd_pipeline_stalled_seconds")  # as of the loop's last turn
        finally:
            os.kill(pid, signal.SIGCONT)
        assert status == 503, body
        assert re.fullmatch(r"stalled: work has waited \d+ ms without a transaction committed "
                            rf"\(limit {MAX_COMMIT_AGE_MS} ms\)\n", body), body
        assert stalled > 0  # the loop may be inside librdkafka's abort while the broker is away
        run.wait_for(r"^/healthz fails: stalled: ", timeout=5)

        answer = wait_for_healthz(port, 200, timeout=120)
        assert answer == (200, "ok\n"), f"{answer}; log:\n" + "\n".join(run.lines[-40:])
        wait_for_all(prefix, total)
        assert gauge(port, "backlogd_pipeline_aborts_in_row") == 0
        run.wait_for(r"^/healthz passes again", timeout=5)
    finally:
        code, counts = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])
    assert len(run.messages(r"^/healthz fails")) == 1, "the verdict is logged once, not at every abort"
