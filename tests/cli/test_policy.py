"""`backlogd policy check` and the offline half of `policy publish`: the
example policy is valid and summarised; a policy with problems lists every
one with its JSON path and exits 1; the configured domains and retry
settings are the ones the policy is checked against; usage errors exit 2;
publish checks before it touches Kafka, and --dry-run sends nothing. The
broker half of publish is tests/integration/test_policy_publish.py."""
import time

from conftest_common import FIXTURES, SOURCE_DIR, backlogd, backlogd_json, clean_env

POLICY_FIXTURES = FIXTURES / "policy"
EXAMPLE = SOURCE_DIR / "config" / "policy.json"
DOMAINS = ["data_preparation", "model_inference", "evaluation", "remediation"]
UNREACHABLE = clean_env(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", BACKLOGD_ADMIN_TIMEOUT_MS="1500",
                        BACKLOGD_LOG_LEVEL="error")


def errors_of(stderr):
    return [line for line in stderr.splitlines() if line.startswith("backlogd: policy error: ")]


def test_check_example_prints_the_summary():
    result = backlogd("policy", "check", EXAMPLE)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("policy platform@3\n")
    for criterion in ["business_value", "risk", "sla_urgency", "freshness", "aging", "retry_penalty"]:
        assert f"  {criterion} " in out, criterion
    assert "1 - clamp(ms to deadline / 3600000)" in out
    assert "0.5 ^ (ms since data_ready_at / 21600000)" in out
    for domain in DOMAINS:
        assert f"  {domain} " in out, domain
    assert "data-prep-workers" in out and "model_inference-workers" in out
    assert "canary platform@4-rc1 scores 10% of the tasks" in out
    assert "is valid (platform@3, 0 warnings)" in result.stderr
    assert errors_of(result.stderr) == []


def test_check_json_is_the_effective_policy():
    result, outcome = backlogd_json("policy", "check", "--json", EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert outcome["ok"] and outcome["label"] == "platform@3" and outcome["canary"] == "platform@4-rc1"
    assert outcome["problems"] == []
    policy = outcome["policy"]
    assert list(policy["domains"]) == DOMAINS
    inference = policy["domains"]["model_inference"]
    assert inference == {"worker_group": "model_inference-workers", "max_lag": 200, "resume_lag": 100,
                         "retry_base_ms": 500, "retry_cap_ms": 60000, "max_attempts": 5, "quota_share": 0.4,
                         "approval_risk_threshold": 0.9, "on_deadline": "expire", "decision_deadline_ms": 0}
    assert policy["domains"]["remediation"]["quota_share"] is None
    assert policy["weights"]["aging"] == 7.0
    assert policy["canary"]["fraction"] == 0.1
    assert policy["canary"]["policy"]["criteria"]["urgency_horizon_ms"] == 7200000


def test_check_lists_every_error_with_its_path():
    result = backlogd("policy", "check", POLICY_FIXTURES / "unknown_keys.json")
    assert result.returncode == 1
    assert result.stdout == ""
    errors = errors_of(result.stderr)
    assert len(errors) == 8
    assert "backlogd: policy error: wieghts: unknown key (did you mean weights?)" in errors
    assert "backlogd: policy error: domains.evaluation.quota: unknown key (did you mean quota_share?)" in errors
    assert "backlogd: policy error: canary.fractoin: unknown key (did you mean fraction?)" in errors
    assert "is not usable: 8 errors" in result.stderr

    result = backlogd("policy", "check", POLICY_FIXTURES / "lag.json")
    assert result.returncode == 1
    errors = errors_of(result.stderr)
    assert len(errors) == 5
    assert any(e.endswith("domains.model_inference.max_lag: resume_lag 500 (from defaults) must be below "
                          "max_lag 400, or the domain would never open again") for e in errors)


def test_check_json_lists_every_error():
    result, outcome = backlogd_json("policy", "check", "--json", POLICY_FIXTURES / "canary_errors.json")
    assert result.returncode == 1
    assert not outcome["ok"] and "policy" not in outcome
    paths = [p["path"] for p in outcome["problems"] if p["fatal"]]
    assert paths == ["canary.fraction", "canary.policy.weights.aging", "canary.policy.domains.training",
                     "canary.policy.canary", "canary.policy.version"]


def test_document_level_errors_name_the_file():
    missing = POLICY_FIXTURES / "no_such_policy.json"
    result = backlogd("policy", "check", missing)
    assert result.returncode == 1
    assert f"backlogd: policy error: {missing}: cannot open: No such file or directory" in result.stderr
    result = backlogd("policy", "check", POLICY_FIXTURES / "not_json.json")
    assert result.returncode == 1
    assert "not_json.json: line 3, column 18" in result.stderr


def test_warnings_do_not_fail_the_check():
    result = backlogd("policy", "check", POLICY_FIXTURES / "warnings.json")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("backlogd: policy warning: ")]
    assert len(warnings) == 6
    assert any("weights.aging: 1 does not exceed 3" in w for w in warnings)
    assert "is valid (warned@1, 6 warnings)" in result.stderr


def test_checked_against_the_configured_domains():
    env = clean_env(BACKLOGD_DOMAINS="training,serving")
    result = backlogd("policy", "check", EXAMPLE, env=env)
    assert result.returncode == 1
    assert ("backlogd: policy error: domains.data_preparation: unknown domain: the configured domains are "
            "training, serving") in result.stderr
    result, outcome = backlogd_json("policy", "check", "--json", POLICY_FIXTURES / "minimal.json", env=env)
    assert result.returncode == 0, result.stderr
    assert list(outcome["policy"]["domains"]) == ["training", "serving"]
    assert outcome["policy"]["domains"]["serving"]["worker_group"] == "serving-workers"


def test_retry_settings_left_out_come_from_the_config():
    env = clean_env(BACKLOGD_BACKLOG_MAX_ATTEMPTS="9", BACKLOGD_BACKLOG_RETRY_BASE_MS="250")
    result, outcome = backlogd_json("policy", "check", "--json", POLICY_FIXTURES / "minimal.json", env=env)
    assert result.returncode == 0, result.stderr
    evaluation = outcome["policy"]["domains"]["evaluation"]
    assert evaluation["max_attempts"] == 9 and evaluation["retry_base_ms"] == 250
    # The example sets its own.
    result, outcome = backlogd_json("policy", "check", "--json", EXAMPLE, env=env)
    assert outcome["policy"]["domains"]["evaluation"]["max_attempts"] == 3


def test_bad_config_stops_the_check():
    result = backlogd("policy", "check", EXAMPLE, "-c", FIXTURES / "config" / "many_errors.json")
    assert result.returncode == 1
    assert "config error" in result.stderr and "policy error" not in result.stderr


def test_usage_errors_exit_2():
    for args in [("policy",), ("policy", "frobnicate"), ("policy", "check"), ("policy", "publish"),
                 ("policy", "check", "a.json", "b.json"), ("policy", "check", "--bogus", "a.json"),
                 ("policy", "check", "--dry-run", "a.json")]:
        result = backlogd(*args)
        assert result.returncode == 2, args
        assert result.stdout == "", args
        assert "Try 'backlogd policy --help'." in result.stderr, args
    assert "missing FILE" in backlogd("policy", "check").stderr
    assert "unknown action 'frobnicate'" in backlogd("policy", "frobnicate").stderr


def test_help():
    for args in [("policy", "--help"), ("policy", "check", "--help"), ("policy", "publish", "-h")]:
        result = backlogd(*args)
        assert result.returncode == 0, args
        assert result.stdout.startswith("Usage: backlogd policy check FILE")


def test_publish_checks_before_any_kafka_handle():
    started = time.monotonic()
    result, outcome = backlogd_json("policy", "publish", "--json", POLICY_FIXTURES / "quota.json", env=UNREACHABLE)
    assert result.returncode == 1
    assert "quota shares sum to 1.2" in result.stderr and "nothing published" in result.stderr
    assert not outcome["ok"] and not outcome["published"]
    assert "127.0.0.1:1" not in result.stderr
    assert time.monotonic() - started < 5


def test_publish_dry_run_sends_nothing():
    result, outcome = backlogd_json("policy", "publish", "--dry-run", "--json", EXAMPLE, env=UNREACHABLE)
    assert result.returncode == 0, result.stderr
    assert "would publish platform@3 to backlog.policy (key platform" in result.stderr
    assert outcome["ok"] and outcome["dry_run"] and not outcome["published"]
    assert outcome["topic"] == "backlog.policy" and outcome["key"] == "platform"
    assert outcome["canary"] == "platform@4-rc1"


def test_publish_to_an_unreachable_cluster_fails_in_time():
    result = backlogd("policy", "publish", EXAMPLE, env=UNREACHABLE, timeout=60)
    assert result.returncode == 1
    assert "platform@3 not published" in result.stderr


def test_docs_describe_every_key():
    """docs/policy.md names every key the effective policy has."""
    _, outcome = backlogd_json("policy", "check", "--json", EXAMPLE)
    docs = (SOURCE_DIR / "docs" / "policy.md").read_text()
    policy = outcome["policy"]
    keys = set(policy) | set(policy["weights"]) | set(policy["criteria"]) | set(policy["defaults"]) | \
        set(policy["canary"])
    for key in keys:
        assert f"`{key}`" in docs, key


# ---- agents (docs/agents.md) --------------------------------------------------------------------

AGENT_TOKEN = "s3cret-agent-token-value"


def test_check_explains_an_agent_with_the_token_masked():
    result = backlogd("policy", "check", POLICY_FIXTURES / "agent.json", env=clean_env(AGENT_TEST_TOKEN=AGENT_TOKEN))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "agents (a pilot share of a domain's tasks" in out
    assert "  remediation: https://agent.example:8443/v1/decide\n" in out
    assert "pilot 20% of the tasks; up to 50 candidates a consultation, with their payloads" in out
    assert "an answer within 250 ms and 262144 bytes, else the policy decides" in out
    assert "holds at most 600000 ms, of at most 25% of the candidates, ending 120000 ms before a deadline" in out
    assert "breaker: open after 3 failures in a row, tried again after 10000 ms" in out
    assert "bearer token ******** from $AGENT_TEST_TOKEN" in out
    assert "  evaluation: http://127.0.0.1:8790/decide\n" in out
    assert "bearer token none" in out
    assert AGENT_TOKEN not in out + result.stderr
    # without the variable: said, and still no value
    result = backlogd("policy", "check", POLICY_FIXTURES / "agent.json")
    assert "bearer token not set from $AGENT_TEST_TOKEN" in result.stdout
    assert "policy warning: domains.remediation.agent.token_env: AGENT_TEST_TOKEN is not set" in result.stderr


def test_check_json_never_holds_the_token():
    result, outcome = backlogd_json("policy", "check", "--json", POLICY_FIXTURES / "agent.json",
                                    env=clean_env(AGENT_TEST_TOKEN=AGENT_TOKEN))
    assert result.returncode == 0, result.stderr
    assert AGENT_TOKEN not in result.stdout + result.stderr
    agent = outcome["policy"]["domains"]["remediation"]["agent"]
    assert agent["token_env"] == "AGENT_TEST_TOKEN" and "token" not in agent
    assert agent["pilot_share"] == 0.2 and agent["send_payload"] is True
    assert outcome["agent_tokens"] == {"evaluation": {"token_env": None, "token": "none"},
                                       "remediation": {"token_env": "AGENT_TEST_TOKEN", "token": "********"}}
    assert "agent" not in outcome["policy"]["domains"]["model_inference"]


def test_check_refuses_bad_agent_settings_by_path():
    result = backlogd("policy", "check", POLICY_FIXTURES / "agent_errors.json")
    assert result.returncode == 1
    errors = errors_of(result.stderr)
    assert len(errors) == 19, result.stderr
    assert ("backlogd: policy error: domains.remediation.agent.token: a token never goes in the policy (it is "
            "published to backlog.policy and printed): put it in an environment variable and name the variable in "
            "token_env") in errors
    assert "backlogd: policy error: domains.remediation.agent.timeout_ms: 5 is out of range [10, 60000]" in errors
    assert "secret" not in result.stdout + result.stderr  # neither the URL's password nor the token
    assert "abc" not in result.stdout + result.stderr
