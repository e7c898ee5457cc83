"""dlq list and dlq redrive without a broker: --help, usage errors found
before any Kafka handle (exit 2: no selector, a bad --since, --limit,
--offset or --reason, --all beside another selector), a bad config (exit 1
before Kafka), and a cluster that does not answer (exit 1 in time, naming
it)."""
from conftest_common import FIXTURES, backlogd, clean_env

UNREACHABLE = clean_env(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", BACKLOGD_ADMIN_TIMEOUT_MS="1500",
                        BACKLOGD_LOG_LEVEL="error")


def usage_error(*args):
    result = backlogd("dlq", *args, env=UNREACHABLE, timeout=10)
    assert result.returncode == 2, (args, result.stderr)
    assert result.stdout == "", args
    return result.stderr


def test_help():
    for args, synopsis in [(("--help",), "Usage: backlogd dlq list"),
                           (("list", "--help"), "Usage: backlogd dlq list [-c FILE] [--json]"),
                           (("redrive", "--help"), "Usage: backlogd dlq redrive [-c FILE]"),
                           (("redrive", "-h"), "Usage: backlogd dlq redrive")]:
        result = backlogd("dlq", *args)
        assert result.returncode == 0 and result.stdout.startswith(synopsis), args
        assert "Exit status" in result.stdout and result.stderr == ""
    assert "dlq.redriven.from" in backlogd("dlq", "redrive", "--help").stdout


def test_actions():
    assert "missing action: list or redrive" in usage_error()
    assert "unknown action 'show'" in usage_error("show")
    assert "Try 'backlogd dlq --help'" in usage_error("--json")


def test_list_usage_errors():
    for args in [("list", "extra"), ("list", "--bogus"), ("list", "-c"), ("list", "--all"),
                 ("list", "--key", "k"), ("list", "--topic", ""), ("list", "--limit", "0"),
                 ("list", "--limit", "ten"), ("list", "--limit", "-3")]:
        assert "Try 'backlogd dlq list --help'" in usage_error(*args), args


def test_bad_since():
    for value in ["yesterday", "2026-11-28", "2026-11-28T08:00:00", "2026-13-01T00:00:00Z", ""]:
        stderr = usage_error("list", "--since", value)
        assert f"--since '{value}' is not an RFC 3339 time" in stderr, value


def test_unknown_reason():
    assert "--reason 'contract.violated' is not a DLQ reason" in usage_error("list", "--reason",
                                                                              "contract.violated")
    assert "is not a DLQ reason" in usage_error("redrive", "--reason", "transient")


def test_redrive_needs_a_selector():
    for args in [("redrive",), ("redrive", "--dry-run"), ("redrive", "--json"), ("redrive", "-c", "x.json")]:
        assert "choose the letters: --reason R, --key K, --offset P:O, or --all" in usage_error(*args), args


def test_redrive_usage_errors():
    for value in ["1", "a:b", "1:", ":5", "-1:5", "1:-5", "1:5:7", "1:5x"]:
        assert "--offset takes PARTITION:OFFSET" in usage_error("redrive", "--offset", value), value
    for args in [("--all", "--reason", "decode.avro"), ("--all", "--key", "k"), ("--offset", "0:1", "--all")]:
        assert "--all chooses every letter" in usage_error("redrive", *args), args
    for args in [("--all", "extra"), ("--all", "--since", "2026-11-28T08:00:00Z"), ("--all", "--limit", "3"),
                 ("--all", "--summary"), ("--all", "--bogus")]:
        assert "Try 'backlogd dlq redrive --help'" in usage_error("redrive", *args), args


def test_bad_config_stops_before_kafka():
    for args in [("list",), ("redrive", "--all")]:
        result = backlogd("dlq", *args, "-c", FIXTURES / "config" / "kafka_reserved.json", timeout=10)
        assert result.returncode == 1, args
        assert "kafka.enable.auto.commit: may not be set" in result.stderr, args
        assert result.stdout == "", args


def test_unreachable_cluster_fails_in_time():
    for args in [("list", "--json"), ("redrive", "--all", "--json"), ("redrive", "--all", "--dry-run")]:
        result = backlogd("dlq", *args, env=UNREACHABLE, timeout=30)
        assert result.returncode == 1, args
        assert f"backlogd dlq {args[0]}: " in result.stderr and "127.0.0.1:1" in result.stderr, args
        assert result.stdout == "", args
