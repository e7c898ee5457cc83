"""Operating `backlogd run` against the real broker: /metrics shows what the
run did, /readyz is false until the partitions are restored, and SIGTERM
under load exits 0 within the grace period without losing anything."""
import re
import signal
import socket
import threading
import time
import urllib.request

from kafka_tools import unique_prefix
from pipeline import Backlogd, produce_raw
from records import encode_event, read_dispatches, task_event, wait_for_all
from test_backlog import create_topics, environment, submit


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None, ""


def series(text, name, **labels):
    """The value of one series in a Prometheus exposition, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)$"
    for line in text.splitlines():
        match = re.match(pattern, line)
        if match:
            return float(match.group(1))
    return None


def test_metrics_show_what_the_run_did():
    prefix = unique_prefix("metrics")
    port = free_port()
    env = environment(prefix, BACKLOGD_HTTP_PORT=port, BACKLOGD_HTTP_ADDRESS="127.0.0.1")
    create_topics(env)
    run = Backlogd(env)
    try:
        run.wait_for("serving /metrics")
        submit(prefix, *[task_event(f"ok{i}", domain="evaluation") for i in range(12)])
        bad = encode_event(task_event("bad", domain="evaluation"))
        produce_raw(prefix + "tasks.events", [("bad", b"\x01" + bad[1:], None)])
        read_dispatches(prefix, "evaluation", expected=12)
        time.sleep(2.5)  # the gauges are recomputed every second
        status, text = get(port, "/metrics")
        assert status == 200
        assert series(text, "backlogd_ingest_events_total", topic=prefix + "tasks.events") == 13
        assert series(text, "backlogd_dlq_records_total", reason="decode.wire_format") == 1
        assert series(text, "backlogd_ingest_invalid_total", reason="decode.wire_format") == 1
        assert series(text, "backlogd_dispatch_decisions_total", domain="evaluation", policy="fifo@1") == 12
        assert series(text, "backlogd_backlog_items", state="DISPATCHED", domain="evaluation") == 12
        assert series(text, "backlogd_backlog_items", state="READY", domain="evaluation") == 0
        assert series(text, "backlogd_txn_committed_total") >= 1
        assert series(text, "backlogd_txn_commit_seconds_count") >= 1
        assert series(text, "backlogd_restore_seconds") is not None
        assert get(port, "/healthz") == (200, "ok\n")
        assert get(port, "/readyz")[0] == 200
        assert get(port, "/nothing")[0] == 404
    finally:
        code, _ = run.stop()
    assert code == 0


def test_readyz_is_false_until_the_partitions_are_restored():
    prefix = unique_prefix("ready")
    port = free_port()
    env = environment(prefix, BACKLOGD_HTTP_PORT=port, BACKLOGD_HTTP_ADDRESS="127.0.0.1")
    create_topics(env)
    first = Backlogd(env)
    try:  # something to restore
        submit(prefix, *[task_event(f"r{i}") for i in range(200)])
        read_dispatches(prefix, "model_inference", expected=200)
    finally:
        first.stop()
    answers, stop = [], threading.Event()

    def probe():
        while not stop.is_set():
            answers.append((time.monotonic(), *get(port, "/readyz")))
            time.sleep(0.005)

    prober = threading.Thread(target=probe)
    prober.start()
    run = Backlogd(env)
    try:
        run.wait_for("snapshots")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(a[1] == 200 for a in answers):
            time.sleep(0.05)
    finally:
        stop.set()
        prober.join()
        run.stop()
    statuses = [a[1] for a in answers if a[1] is not None]
    assert 503 in statuses and 200 in statuses
    first_ready = statuses.index(200)
    assert all(s == 503 for s in statuses[:first_ready]), "ready before the restore finished"
    reasons = {a[2] for a in answers if a[1] == 503}
    assert any("not ready" in r for r in reasons), reasons


def test_sigterm_under_load_exits_in_time_and_loses_nothing():
    prefix = unique_prefix("sigterm")
    env = environment(prefix, BACKLOGD_SHUTDOWN_GRACE_MS=15000)
    create_topics(env)
    total, batch = 6000, 500
    run = Backlogd(env)
    run.wait_for("snapshots")
    feeder_done = threading.Event()

    def feed():
        for start in range(0, total, batch):
            submit(prefix, *[task_event(f"s{i}") for i in range(start, start + batch)])
        feeder_done.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    time.sleep(3)  # well into the stream
    started = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    code = run.process.wait(timeout=30)
    elapsed = time.monotonic() - started
    feeder.join()
    assert code == 0 and elapsed < 15, f"exit {code} after {elapsed:.1f} s"
    assert run.messages(r"^stopped: ")

    again = Backlogd(env)
    try:
        state = wait_for_all(prefix, total)
    finally:
        again.stop()
    assert len(state) == total, f"{len(state)} of {total} tasks in backlog.state"
    dispatches = read_dispatches(prefix, "model_inference", expected=total, timeout=60)
    pairs = [(d["task_id"], d["attempt"]) for d in dispatches]
    assert len(pairs) == total and len(set(pairs)) == total
