"""Task ids as long as limits.id_max_bytes admits, against the real broker.

With limits.id_max_bytes at its maximum (4096), two tasks whose ids differ only
in their last byte must stay two tasks everywhere backlogd makes or reads an id:

- their dispatch_ids ("<task_id>/<attempt>", 4098 bytes) are whole and
  distinct, and a worker's COMPLETED echoing one passes the contract (it was
  dead-lettered as too long, and the task retried until DEAD);
- a tombstone in backlog.state for one of them, read back on restore, forgets
  that task and not the other (restore cut the key at 1023 bytes, so the
  purged task came back after every restart).
"""
import re
import time

from kafka_tools import unique_prefix
from pipeline import Backlogd, produce_raw
from records import result, task_event, wait_for_states
from test_backlog import create_topics, environment, report, submit, wait_for_dispatches
from test_operate import free_port, get

ID_MAX = 4096


def long_id(last):
    return "t" * (ID_MAX - 1) + last


def held(port, domain="model_inference"):
    """{state: backlogd_backlog_items} of @p domain in /metrics now."""
    status, text = get(port, "/metrics")
    pattern = rf'^backlogd_backlog_items\{{state="(\w+)",domain="{domain}"\}} (\S+)$'
    return {state: float(value) for state, value in re.findall(pattern, text, re.M)} if status == 200 else {}


def wait_until_held(port, expected, timeout=20):
    """Waits until the census counts one DISPATCHED task (the restore's), then returns every state's count."""
    deadline = time.monotonic() + timeout
    counts = held(port)
    while counts.get("DISPATCHED") != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = held(port)
    return counts


def test_longest_task_ids_stay_distinct_through_results_and_restore():
    prefix = unique_prefix("longids")
    port = free_port()
    env = environment(prefix, BACKLOGD_LIMITS_ID_MAX_BYTES=ID_MAX, BACKLOGD_HTTP_PORT=port,
                      BACKLOGD_HTTP_ADDRESS="127.0.0.1")
    create_topics(env)
    first, second = long_id("1"), long_id("2")
    submit(prefix, task_event(first), task_event(second))

    run = Backlogd(env)
    try:
        dispatches = wait_for_dispatches(prefix, 2)
        assert sorted(d["dispatch_id"] for d in dispatches) == [first + "/1", second + "/1"]
        report(prefix, result(first, "COMPLETED", 1))
        wait_for_states(prefix, {first: "COMPLETED", second: "DISPATCHED"})
    finally:
        code, counts = run.stop()
    assert code == 0, "\n".join(run.lines[-20:])
    assert counts["dead_lettered"] == 0

    # As a purge would leave it: a tombstone for the first task, then a restart.
    produce_raw(prefix + "backlog.state", [(first.encode(), None, None)])
    run = Backlogd(env)
    try:
        counts = wait_until_held(port, 1)
        assert counts.get("DISPATCHED") == 1 and counts.get("COMPLETED") == 0, counts
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-20:])
