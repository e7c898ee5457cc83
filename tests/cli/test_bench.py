"""The benchmarks' command lines, without a broker or Java: bench_e2e's options (the contenders,
the latency phase) and bench_agent's parse and refuse bad values, and the Kafka Streams peer's build script answers
--help and says when Java or Maven is missing. The benchmarks themselves are not tests
(docs/performance.md)."""
import os
import subprocess

from conftest_common import SOURCE_DIR

BENCH_E2E = os.environ.get("BENCH_E2E_BIN", str(SOURCE_DIR / "build" / "bench_e2e"))
BENCH_AGENT = os.environ.get("BENCH_AGENT_BIN", str(SOURCE_DIR / "build" / "bench_agent"))
PEER_SCRIPT = SOURCE_DIR / "bench" / "peers" / "kstreams" / "build.sh"


def run(*args, env=None):
    return subprocess.run([*map(str, args)], capture_output=True, text=True, timeout=60, env=env)


def test_e2e_help_names_every_contender_option():
    result = run(BENCH_E2E, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--backlogd MODE", "--backlogd-path", "--peer ", "--no-peer", "--peer-script",
                   "--peer-threads", "--latency SECONDS", "--latency-rate", "--events N"):
        assert option in result.stdout, option
    assert str(PEER_SCRIPT) in result.stdout


def test_e2e_refuses_bad_values_before_any_broker():
    for args, said in ((["--backlogd", "sideways"], "--backlogd: inprocess, process or both"),
                       (["--peer-threads", "0"], "--peer-threads"),
                       (["--latency", "0"], "--latency"),
                       (["--latency-rate", "x"], "--latency-rate"),
                       (["--no-such-option"], "see --help")):
        result = run(BENCH_E2E, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert said in result.stderr, (args, result.stderr)


def test_e2e_refuses_a_backlogd_that_is_not_there(tmp_path):
    result = run(BENCH_E2E, "--backlogd", "process", "--no-peer", "--backlogd-path", tmp_path / "none")
    assert result.returncode == 2
    assert "is not an executable" in result.stderr


def test_peer_script_help_and_usage_error():
    result = run("bash", PEER_SCRIPT, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("build", "classpath", "run", "check"):
        assert f"build.sh {command}" in result.stdout, command
    assert run("bash", PEER_SCRIPT, "sideways").returncode == 2


def test_peer_check_says_when_java_is_missing():
    result = run("/bin/bash", PEER_SCRIPT, "check", env={"PATH": "/nonexistent", "HOME": "/nonexistent"})
    assert result.returncode == 3, (result.stdout, result.stderr)


def test_agent_bench_options_parse_and_refuse_bad_values():
    result = run(BENCH_AGENT, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--agent-delay-ms MS", "--max-lag N", "--pilot-share S", "--timeout-ms MS", "--max-candidates N",
                   "--tasks N", "--runs R"):
        assert option in result.stdout, option
    for args in (["--pilot-share", "1.5"], ["--timeout-ms", "5"], ["--max-candidates", "501"], ["--max-lag", "0"],
                 ["--agent-delay-ms", "x"], ["--bogus"]):
        refused = run(BENCH_AGENT, *args)
        assert refused.returncode == 2 and refused.stdout == "", (args, refused.stdout, refused.stderr)
