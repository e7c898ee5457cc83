"""The command line without a broker: help, usage errors, config check and
the generated configuration reference."""
import json
import re

from conftest_common import FIXTURES, SOURCE_DIR, backlogd, backlogd_json, clean_env

# Every subcommand of SPEC §8, as --help must list it.
SPEC_COMMANDS = ["run", "demo", "produce", "topics create", "contracts check", "inspect",
                 "audit", "tasks list|show", "replay", "dlq list|redrive", "policy check|publish", "config check"]


def test_help_lists_every_subcommand():
    result = backlogd("--help")
    assert result.returncode == 0
    for command in SPEC_COMMANDS:
        assert f"  {command}" in result.stdout, command


def test_version_names_the_libraries_it_runs_on():
    result = backlogd("--version")
    assert result.returncode == 0 and result.stdout.startswith("backlogd ")
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines()}
    assert set(lines) == {"backlogd", "librdkafka", "avro-c", "jansson", "libcurl", "libmicrohttpd"}, lines
    # librdkafka before 2.6.1 sends a SCRAM proof that Kafka 4 rejects (its bug #4895).
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\S* \(features: (\S+)\)", lines["librdkafka"])
    assert match, lines["librdkafka"]
    assert tuple(int(part) for part in match.groups()[:3]) >= (2, 6, 1), lines["librdkafka"]
    assert {"ssl", "sasl_scram", "sasl_plain", "sasl_oauthbearer"} <= set(match.group(4).split(","))
    for name in ["avro-c", "jansson", "libcurl", "libmicrohttpd"]:
        assert re.match(r"\d+\.\d+", lines[name]), (name, lines[name])
    assert backlogd("-V").stdout == result.stdout


def listed_commands():
    """The commands `backlogd --help` lists under "Commands:", as {name: synopsis}."""
    help_text = backlogd("--help").stdout
    block = help_text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    synopses = [line[2:].split("  ", 1)[0] for line in block.splitlines()]
    return {synopsis.split()[0]: synopsis for synopsis in synopses}


def actions_of(synopsis):
    """The actions a synopsis offers: "dlq list|redrive" -> ["list", "redrive"]; none for "audit TASK_ID"."""
    words = synopsis.split()
    return words[1].split("|") if len(words) > 1 and not words[1].isupper() else []


def usage_forms(command):
    """The first word after the command in each "Usage:" line of its --help, unless it is an option in []."""
    forms = []
    for line in backlogd(command, "--help").stdout.splitlines():
        words = line.replace("Usage:", "", 1).split()
        if len(words) > 2 and words[0] == "backlogd" and words[1] == command and not words[2].startswith("["):
            forms.append(words[2])
    return forms


def test_every_listed_command_has_help_and_a_page():
    commands = listed_commands()
    pages = {page.stem for page in (SOURCE_DIR / "docs" / "cli").glob("*.md")} - {"README"}
    assert set(commands) == pages, "each command listed by --help has docs/cli/<command>.md, and no page more"
    index = (SOURCE_DIR / "docs" / "cli" / "README.md").read_text()
    for command in commands:
        page = (SOURCE_DIR / "docs" / "cli" / f"{command}.md").read_text()
        assert re.match(rf"# backlogd {command}[ \n]", page), command
        assert f"]({command}.md)" in index, command
        result = backlogd(command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith("Usage: backlogd " + command) and result.stderr == "", command


def test_listing_names_every_form_of_each_command():
    """`replay --policy` is a form of its own, as `dlq redrive` is: the listing shows it."""
    for command, synopsis in listed_commands().items():
        offered = set(actions_of(synopsis))
        for form in usage_forms(command):
            assert form in offered, f"'backlogd {command} {form}' is missing from --help's '{synopsis}'"


def test_a_command_without_its_action_names_the_actions():
    for command, synopsis in listed_commands().items():
        actions = actions_of(synopsis)
        if not actions or actions[0].startswith("-"):
            continue
        expected = " or ".join(actions)
        missing = backlogd(command)
        assert missing.returncode == 2 and missing.stdout == "", command
        assert missing.stderr.startswith(f"backlogd {command}: missing action: {expected}\n"), missing.stderr
        unknown = backlogd(command, "frobnicate")
        assert unknown.returncode == 2 and unknown.stdout == "", command
        assert f"backlogd {command}: unknown action 'frobnicate': expected {expected}\n" in unknown.stderr


def test_unknown_command_is_a_usage_error():
    # names are case-sensitive: Approve is not approve
    for name in ["frobnicate", "Approve", "Tasks", "Run"]:
        result = backlogd(name, "--help")
        assert result.returncode == 2 and result.stdout == "", name
        assert result.stderr == f"backlogd: unknown command '{name}'\nTry 'backlogd --help'.\n", result.stderr
    bare = backlogd()
    assert bare.returncode == 2 and bare.stdout == ""
    assert bare.stderr.startswith("Usage: backlogd <command>") and "\nCommands:\n" in bare.stderr
    assert backlogd("help").stdout == backlogd("--help").stdout == backlogd("-h").stdout
    assert "not in this build" not in backlogd("--help").stdout


def test_usage_errors_exit_2():
    assert backlogd().returncode == 2
    assert backlogd("frobnicate").returncode == 2
    assert backlogd("topics").returncode == 2
    assert backlogd("topics", "delete").returncode == 2
    assert backlogd("topics", "create", "--bogus").returncode == 2
    assert backlogd("topics", "create", "extra").returncode == 2
    assert backlogd("config").returncode == 2
    assert backlogd("config", "check", "a.json", "b.json").returncode == 2
    assert backlogd("demo", "--duration", "0").returncode == 2
    assert backlogd("demo", "--rate", "x").returncode == 2
    assert backlogd("demo", "extra").returncode == 2


def test_config_check_example_file():
    result = backlogd("config", "check", SOURCE_DIR / "config" / "backlogd.json")
    assert result.returncode == 0, result.stderr
    assert "topics.partitions" in result.stdout and "(file)" in result.stdout


def test_config_check_lists_every_error():
    result = backlogd("config", "check", FIXTURES / "config" / "many_errors.json")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "config error" in line]
    assert len(errors) == 4
    assert any("topics.partitions: -4 is out of range" in line for line in errors)
    assert any("domainz: unknown key (did you mean domains?)" in line for line in errors)
    assert result.stdout == ""


def test_config_check_json_masks_secrets_and_shows_env():
    env = clean_env(BACKLOGD_KAFKA_SASL_PASSWORD="s3cr3t-value", BACKLOGD_TOPICS_PARTITIONS="9")
    result, config = backlogd_json("config", "check", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert config["topics"]["partitions"] == 9
    assert config["kafka"]["sasl.password"] == "********"
    assert "s3cr3t-value" not in result.stdout + result.stderr
    table = backlogd("config", "check", env=env)
    assert "s3cr3t-value" not in table.stdout and "(env)" in table.stdout


def test_config_from_environment_path():
    env = clean_env(BACKLOGD_CONFIG=FIXTURES / "config" / "out_of_range.json")
    result = backlogd("config", "check", env=env)
    assert result.returncode == 1
    assert "topics.partitions" in result.stderr


def test_configuration_reference_is_current():
    """docs/configuration.md is generated from the key table: regenerate it with
    `build/backlogd config reference > docs/configuration.md`."""
    result = backlogd("config", "reference")
    assert result.returncode == 0
    assert (SOURCE_DIR / "docs" / "configuration.md").read_text() == result.stdout


def test_bad_config_stops_topics_create_before_kafka():
    result = backlogd("topics", "create", "-c", FIXTURES / "config" / "kafka_reserved.json")
    assert result.returncode == 1
    assert "kafka.enable.auto.commit: may not be set" in result.stderr


def test_topics_create_unreachable_cluster_fails_in_time():
    env = clean_env(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", BACKLOGD_ADMIN_TIMEOUT_MS="1500",
                    BACKLOGD_LOG_LEVEL="error")
    result = backlogd("topics", "create", env=env, timeout=30)
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr


def test_transactional_id_is_refused_saying_how_backlogd_makes_it(tmp_path):
    config = tmp_path / "backlogd.json"
    config.write_text(json.dumps({"kafka": {"transactional.id": "mine"}}))
    result = backlogd("config", "check", config)
    assert result.returncode == 1
    assert ("kafka.transactional.id: may not be set: set to group_id-instance_id "
            "(dlq redrive: group_id-dlq-redrive)") in result.stderr, result.stderr


def test_config_check_keeps_a_6kb_pem_whole(tmp_path):
    """Regression (issue 12): kafka property values over 4,095 bytes were cut silently."""
    lines = ["-----BEGIN CERTIFICATE-----"]
    lines += [("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" * 2)[i % 64:i % 64 + 64]
              for i in range(93)]
    lines.append("-----END CERTIFICATE-----")
    pem = "\n".join(lines) + "\n"
    assert len(pem) > 6000
    path = tmp_path / "pem.json"
    path.write_text(json.dumps({"kafka": {"bootstrap.servers": "b:9092", "ssl.ca.pem": pem}}))
    result, config = backlogd_json("config", "check", "--json", path)
    assert result.returncode == 0, result.stderr
    assert config["kafka"]["ssl.ca.pem"] == pem


def test_config_check_and_run_refuse_registry_url_with_credentials(tmp_path):
    """Regression (issue 12): config check accepted and printed a registry.url with
    user:password@ that run refuses; both refuse it now, and neither prints it."""
    path = tmp_path / "url.json"
    path.write_text(json.dumps({"registry": {"url": "https://svc:Pa55-w0rd@registry:8081"}}))
    for command in (["config", "check", path], ["config", "check", "--json", path], ["run", "-c", path]):
        result = backlogd(*command)
        assert result.returncode == 1, command
        assert "registry.url: must not carry credentials" in result.stderr, command
        assert "Pa55-w0rd" not in result.stdout + result.stderr, command
        assert "svc:" not in result.stdout + result.stderr, command


def test_config_parse_error_does_not_quote_the_file(tmp_path):
    """Regression (issue 12): a bad escape in a password was echoed by the parse error."""
    path = tmp_path / "bad_escape.json"
    path.write_text('{\n  "kafka": {\n    "sasl.password": "hunter\\q2-secret"\n  }\n}\n')
    result = backlogd("config", "check", path)
    assert result.returncode == 1
    assert "line 3, column" in result.stderr and "invalid JSON syntax" in result.stderr
    assert "hunter" not in result.stdout + result.stderr
    assert "secret" not in result.stdout + result.stderr


def test_tasks_options_are_checked_before_any_broker():
    """No broker is configured here: every one of these stops at the options, exit 2, naming the fault."""
    cases = [(["list", "--state", "WAITING"], "--state WAITING: no such state"),
             (["list", "--waiting-for", "godot"], "--waiting-for godot: not a reason to wait"),
             (["list", "--limit", "0"], "--limit 0: a whole number of tasks, at least 1"),
             (["list", "--limit", "-3"], "--limit -3"),
             (["list", "t-1"], "unexpected argument 't-1'"),
             (["list", "--transitions", "3"], "--transitions is not an option of 'tasks list'"),
             (["show"], "show: missing TASK_ID"),
             (["show", ""], "show: TASK_ID is empty"),
             (["show", "t-1", "t-2"], "unexpected argument 't-2'"),
             (["show", "t-1", "--waiting-for", "approval"], "--waiting-for is not an option of 'tasks show'"),
             (["list", "--metrics", "backlogd-0:9464"], "--metrics backlogd-0:9464: an http:// or https:// URL"),
             (["show", "t-1", "--metrics", "http://a/metrics"], "--metrics is not an option of 'tasks show'")]
    for args, message in cases:
        result = backlogd("tasks", *args, env=clean_env())
        assert result.returncode == 2 and result.stdout == "", (args, result.stderr)
        assert result.stderr.startswith(f"backlogd tasks: {message}"), (args, result.stderr)
    # every reason is documented and in the help; breaker needs --metrics (the instances keep the breakers)
    page = (SOURCE_DIR / "docs" / "cli" / "tasks.md").read_text()
    for reason in ["dependency", "not_before", "approval", "retry", "worker", "breaker", "agent"]:
        assert f"| `{reason}` |" in page and reason in backlogd("tasks", "--help").stdout, reason
    assert page.count("none until backlogd") == 0 and "--metrics URL" in backlogd("tasks", "--help").stdout
