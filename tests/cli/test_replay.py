"""inspect, audit and replay without a broker: --help, usage errors found
before any Kafka handle (exit 2), a bad config (exit 1 before Kafka), a
cluster that does not answer (exit 1 in time, naming it), and `replay`
without --verify or --policy FILE."""
from conftest_common import FIXTURES, backlogd, clean_env

UNREACHABLE = clean_env(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", BACKLOGD_ADMIN_TIMEOUT_MS="1500",
                        BACKLOGD_LOG_LEVEL="error")


def test_help():
    for command, synopsis in [("inspect", "Usage: backlogd inspect [-c FILE] [--json]"),
                              ("audit", "Usage: backlogd audit [-c FILE] [--json] TASK_ID"),
                              ("replay", "Usage: backlogd replay --verify [-c FILE] [--json]")]:
        result = backlogd(command, "--help")
        assert result.returncode == 0 and result.stdout.startswith(synopsis), command
        assert "Exit status" in result.stdout and result.stderr == ""


def test_usage_errors_exit_2_without_a_cluster():
    cases = [("inspect", "extra"), ("inspect", "--bogus"), ("inspect", "-c"),
             ("audit",), ("audit", ""), ("audit", "t-1", "t-2"), ("audit", "--bogus", "t-1"),
             ("replay", "--verify", "extra"), ("replay", "--verify", "--bogus"), ("replay", "--json")]
    for args in cases:
        result = backlogd(*args, env=UNREACHABLE, timeout=10)
        assert result.returncode == 2, args
        assert result.stdout == "", args
        assert f"Try 'backlogd {args[0]} --help'" in result.stderr, args


def test_audit_names_what_is_missing():
    assert "missing TASK_ID" in backlogd("audit").stderr
    assert "one TASK_ID at a time" in backlogd("audit", "a", "b").stderr


def test_replay_needs_verify_or_policy():
    result = backlogd("replay", env=UNREACHABLE, timeout=10)
    assert result.returncode == 2 and "--verify" in result.stderr and "--policy FILE" in result.stderr
    both = backlogd("replay", "--verify", "--policy", "c.json", env=UNREACHABLE, timeout=10)
    assert both.returncode == 2 and "one at a time" in both.stderr
    missing = backlogd("replay", "--policy", "no-such.json", env=UNREACHABLE, timeout=10)
    assert missing.returncode == 1 and "cannot open" in missing.stderr and missing.stdout == ""


def test_bad_config_stops_before_kafka():
    for args in [("inspect",), ("audit", "t-1"), ("replay", "--verify")]:
        result = backlogd(*args, "-c", FIXTURES / "config" / "kafka_reserved.json", timeout=10)
        assert result.returncode == 1, args
        assert "kafka.enable.auto.commit: may not be set" in result.stderr, args


def test_unreachable_cluster_fails_in_time():
    for args in [("inspect", "--json"), ("audit", "t-1"), ("replay", "--verify", "--json")]:
        result = backlogd(*args, env=UNREACHABLE, timeout=30)
        assert result.returncode == 1, args
        assert f"backlogd {args[0]}: " in result.stderr and "127.0.0.1:1" in result.stderr, args
        assert result.stdout == "", args


def test_pilot_report_without_a_broker():
    """`pilot report`: its help, usage errors before any Kafka handle (exit 2), an unreachable cluster
    in time (exit 1, naming it)."""
    help_text = backlogd("pilot", "--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: backlogd pilot report")
    for args in [("pilot", "report", "--since", "yesterday"), ("pilot", "report", "--until", "-5m"),
                 ("pilot", "report", "--since", "1h", "--until", "2h"), ("pilot", "report", "x"),
                 ("pilot", "report", "--bogus")]:
        result = backlogd(*args, env=UNREACHABLE, timeout=10)
        assert result.returncode == 2 and result.stdout == "", args
        assert "Try 'backlogd pilot --help'" in result.stderr, args
    assert "--until must be later than --since" in backlogd("pilot", "report", "--since", "1h", "--until",
                                                            "2h").stderr
    result = backlogd("pilot", "report", "--since", "2026-12-07T17:00:00Z", "--until", "1700000000000",
                      env=UNREACHABLE, timeout=30)
    assert result.returncode == 2  # until before since
    result = backlogd("pilot", "report", "--since", "15m", env=UNREACHABLE, timeout=30)
    assert result.returncode == 1 and "backlogd pilot: " in result.stderr and "127.0.0.1:1" in result.stderr
    assert result.stdout == ""
