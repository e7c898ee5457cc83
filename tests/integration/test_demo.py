"""`backlogd demo`: the whole pipeline on librdkafka's mock cluster, in the
process, with synthetic producers and workers. It needs no broker, but it is
the pipeline end to end, so it runs with the integration tier.

The run is seeded, so the tasks, their fates and the poison pills are the
same every time; only thread timing varies, and nothing below depends on it
beyond what the scenario makes certain (the slow domain's workers manage a
quarter of what it is sent, so it reaches max_lag within seconds). The demo's
decision agent governs half of that domain: backlogd's count of its
consultations agrees with the agent's own, and every dispatch there is counted
under who decided it."""
import json
import signal
import subprocess
import time

from conftest_common import BACKLOGD, backlogd, clean_env

DURATION = 12
# Joining the group on the mock takes about 3 s; stopping (the workers' last results taken in, the
# backlog counted once more, the group left) and reading backlog.dlq back about 2 s.
OVERHEAD = 10


def test_demo_runs_every_domain_throttles_the_slow_one_and_dead_letters_the_pills():
    started = time.monotonic()
    result = backlogd("demo", "--duration", DURATION, "--seed", 1, "--json", timeout=DURATION + 60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < DURATION + OVERHEAD, f"the demo took {elapsed:.1f} s for --duration {DURATION}"
    summary = json.loads(result.stdout)
    assert summary["pipeline_status"] == 0 and not summary["interrupted"]
    assert summary["seed"] == 1 and abs(summary["duration_s"] - DURATION) < 1

    events = summary["events"]
    assert events["submitted"] >= 200 * DURATION * 0.9, events
    assert events["delivered"] == events["produced"] and events["delivery_failed"] == 0
    assert events["with_deadline"] > 0 and events["with_dependencies"] > 0

    # Dispatches in every domain; the slow one throttled at its max_lag while the others flow.
    slow = summary["slow_domain"]
    for name, domain in summary["domains"].items():
        assert domain["dispatched"] > 0 and domain["completed"] > 0, (name, domain)
        if name == slow["name"]:
            assert domain["throttled_times"] >= 1 and domain["throttled_s"] > 0, domain
            assert domain["max_lag"] >= slow["max_lag"], domain
        else:
            assert domain["throttled_times"] == 0, (name, domain)
    assert summary["dispatched"] == sum(d["dispatched"] for d in summary["domains"].values())
    # evaluation's workers have an outage from 2 s to 7 s: its breaker opens, and closes on its probes after it.
    for name, domain in summary["domains"].items():
        if name == "evaluation":
            assert domain["breaker_opened"] >= 1 and domain["breaker"] == "closed", domain
        else:
            assert domain["breaker_opened"] == 0 and domain["breaker"] == "closed", (name, domain)

    # Every poison pill is in backlog.dlq under its reason (read back from the topic, not counted).
    assert summary["dlq_source"] == "backlog.dlq"
    pills = events["poison_pills"]
    assert sum(pills.values()) == 6 and set(pills) == {"decode.wire_format", "decode.schema_unknown",
                                                       "contract.violation"}
    for reason, sent in pills.items():
        assert summary["dlq"][reason] == sent, (reason, summary["dlq"])
    # Workers failed some tasks for good: they are dead-lettered as retries.exhausted, with their dependents.
    assert summary["failed"]["permanent"] > 0 and summary["dlq"]["retries.exhausted"] > 0
    assert summary["retried"] > 0

    # The backlog as the pipeline last counted it agrees with what the workers did.
    backlog = summary["backlog"]
    assert 0.9 * summary["completed"] <= backlog["COMPLETED"] <= summary["completed"], (backlog, summary["completed"])
    # Deadlines keep passing (timers need no input) until the pipeline stops, after its last count.
    assert 0 < backlog["EXPIRED"] <= summary["dlq"]["deadline.expired"], (backlog, summary["dlq"])
    assert summary["transactions"]["committed"] > 0 and summary["transactions"]["aborted"] == 0

    # stderr is not a terminal: one plain line a second, no escape sequences.
    lines = [line for line in result.stderr.splitlines() if line.startswith("demo ")]
    assert len(lines) >= DURATION - 2 and "\033" not in result.stderr
    assert any("THROTTLED" in line for line in lines)
    assert any("evaluation lag" in line and "BREAKER OPEN" in line for line in lines)
    assert all("; agent " in line and " breaker " in line for line in lines), lines[-1]

    # The decision agent on loopback governs half of the slow domain: backlogd consulted it, and its
    # account of the consultations is the agent's own; every dispatch there says who decided it.
    agent = summary["agent"]
    assert agent["domain"] == slow["name"] and agent["decided_by"] == "demo-agent@1", agent
    served, consulted = agent["served"], agent["consultations"]
    assert served["requests"] > 0, agent
    assert consulted["answered"] == served["answered"], agent
    assert consulted["http_error"] == served["failed"] and consulted["malformed"] == served["garbage"], agent
    assert consulted["timeout"] <= served["too_late"], agent  # one still out at the stop ends cancelled
    assert consulted["invalid"] == 0, agent
    assert agent["breaker"] in ("closed", "open", "half_open")
    groups = agent["groups"]
    # how many the agent's answers decide depends on when credit comes back (a throttled domain): not asserted
    assert groups["policy"]["dispatched"] + groups["demo-agent@1"]["dispatched"] > 0, groups
    assert groups["control"]["dispatched"] > 0, groups
    governed = sum(group["dispatched"] for group in groups.values())
    assert 0.9 * summary["domains"][slow["name"]]["dispatched"] <= governed, (groups, summary["domains"])
    assert governed <= summary["domains"][slow["name"]]["dispatched"], groups


def test_demo_text_summary():
    result = backlogd("demo", "--duration", 3, "--seed", 2, "--rate", 50, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("backlogd demo: 3.0 s on librdkafka's mock cluster")
    for domain in ("data_preparation", "model_inference", "evaluation", "remediation"):
        assert domain in out
    assert "the slow domain" in out and "dead letters (read back from backlog.dlq)" in out
    assert "decode.wire_format" in out and "accepts transactions and ignores them" in out
    assert "the decision agent  demo-agent@1 on 50 % of model_inference:" in out
    for line in ("consultations       answered ", "guardrails          ", "  the agent ", "  the policy (fallbacks) ",
                 "  the control group "):
        assert line in out, line


def test_demo_stops_cleanly_on_sigterm():
    process = subprocess.Popen([BACKLOGD, "demo", "--duration", "600", "--seed", "3", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        deadline = time.monotonic() + 30
        # Wait until the producers run (the first plain line), then a little more.
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if line.startswith("demo "):
                break
        time.sleep(2)
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert time.monotonic() - stopped < OVERHEAD
    summary = json.loads(out)
    assert summary["interrupted"] and summary["pipeline_status"] == 0
    assert summary["events"]["produced"] > 0 and summary["dispatched"] > 0

