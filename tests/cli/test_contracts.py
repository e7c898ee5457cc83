"""`backlogd contracts check` offline: the real contracts in schemas/ are
BACKWARD compatible, version by version; the fixtures under
tests/fixtures/contracts are rejected (or accepted) with the reason; the
--json shape; usage errors; a registry that cannot be reached."""
import shutil

from conftest_common import FIXTURES, SOURCE_DIR, backlogd, backlogd_json, clean_env

CONTRACT_FIXTURES = FIXTURES / "contracts"
REAL_CONTRACTS = {"task_event": [1, 2, 3], "transition": [1, 2, 3], "backlog_item": [1], "dispatch_decision": [1, 2],
                  "dependency_notice": [1]}


def test_real_schemas_are_backward_compatible():
    result = backlogd("contracts", "check", "--schemas", SOURCE_DIR / "schemas")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(REAL_CONTRACTS)
    assert "task_event           v1..v3   compatible" in lines
    assert "transition           v1..v3   compatible" in lines
    assert "all 5 contracts are backward compatible" in result.stderr


def test_default_schemas_dir_is_the_source_tree():
    result = backlogd("contracts", "check")
    assert result.returncode == 0, result.stderr
    assert "task_event" in result.stdout


def test_incompatible_fixture_fails_with_the_reasons():
    result = backlogd("contracts", "check", "--schemas", CONTRACT_FIXTURES / "incompatible")
    assert result.returncode == 1
    out = result.stdout
    assert "task_event           v1..v2   INCOMPATIBLE" in out
    assert ("  v2 cannot read v1: TaskEvent.tier: reader field has no default and the writer has no such field"
            in out)
    assert "status_change        v1..v2   INCOMPATIBLE" in out
    assert ("  v2 cannot read v1: StatusChange.event_type: writer symbol PAUSED is not in the reader enum "
            "EventType, which has no default") in out
    assert "2 of 2 contracts are not backward compatible" in result.stderr


def test_compatible_fixture_passes_across_three_versions():
    result = backlogd("contracts", "check", "--schemas", CONTRACT_FIXTURES / "compatible")
    assert result.returncode == 0, result.stdout
    assert result.stdout == "task_event           v1..v3   compatible\n"


def test_malformed_schema_is_reported_as_invalid():
    result = backlogd("contracts", "check", "--schemas", CONTRACT_FIXTURES / "malformed")
    assert result.returncode == 1
    assert "task_event           v1..v2   INVALID" in result.stdout
    assert "v2 is not a valid schema: TaskEvent.error: unknown type name 'TaskError'" in result.stdout


def test_schemas_dir_from_the_config():
    env = clean_env(BACKLOGD_SCHEMAS_DIR=CONTRACT_FIXTURES / "incompatible")
    result = backlogd("contracts", "check", env=env)
    assert result.returncode == 1
    assert "TaskEvent.tier" in result.stdout


def test_json_shape():
    result, outcome = backlogd_json("contracts", "check", "--json", "--schemas", SOURCE_DIR / "schemas")
    assert result.returncode == 0, result.stderr
    assert set(outcome) == {"schemas_dir", "contracts", "incompatible", "unlisted", "registry", "ok"}
    assert outcome["ok"] is True and outcome["incompatible"] == 0 and outcome["registry"] is None
    assert outcome["unlisted"] == []
    contracts = {c["contract"]: c for c in outcome["contracts"]}
    assert {name: c["versions"] for name, c in contracts.items()} == REAL_CONTRACTS
    assert contracts["task_event"] == {"contract": "task_event", "versions": [1, 2, 3], "ids": [1, 2, 7],
                                       "compatible": True, "failures": []}

    result, outcome = backlogd_json("contracts", "check", "--json", "--schemas", CONTRACT_FIXTURES / "incompatible")
    assert result.returncode == 1
    assert outcome["ok"] is False and outcome["incompatible"] == 2
    failures = {c["contract"]: c["failures"] for c in outcome["contracts"]}
    assert failures["task_event"] == [{
        "reader_version": 2, "writer_version": 1, "kind": "incompatible",
        "reason": "TaskEvent.tier: reader field has no default and the writer has no such field"}]
    assert failures["status_change"][0]["reason"].startswith("StatusChange.event_type: writer symbol PAUSED")

    result, outcome = backlogd_json("contracts", "check", "--json", "--schemas", CONTRACT_FIXTURES / "malformed")
    assert result.returncode == 1
    assert outcome["contracts"][0]["failures"][0]["kind"] == "malformed"


def test_an_avsc_file_that_ids_json_does_not_list_is_an_error():
    """The fixture lists task_event v1 (as ./task_event/v1.avsc); task_event/v2.avsc and
    drafts/task_event_v3.avsc are there but unlisted: nobody would check them, no id would reach them."""
    directory = CONTRACT_FIXTURES / "unlisted"
    result = backlogd("contracts", "check", "--schemas", directory)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "task_event           v1       compatible\n"
    errors = [line for line in result.stderr.splitlines() if "is not listed" in line]
    assert errors == [f"backlogd contracts: {directory}/{name} is not listed in {directory}/ids.json: add it there "
                      "with the next free id, or remove it"
                      for name in ["drafts/task_event_v3.avsc", "task_event/v2.avsc"]]
    assert "README.txt" not in result.stderr

    result, outcome = backlogd_json("contracts", "check", "--json", "--schemas", directory)
    assert result.returncode == 1
    assert outcome["unlisted"] == ["drafts/task_event_v3.avsc", "task_event/v2.avsc"]
    assert outcome["ok"] is False and outcome["incompatible"] == 0


def test_an_unlisted_avsc_file_is_found_in_a_copy_of_the_real_schemas(tmp_path):
    schemas = tmp_path / "schemas"
    shutil.copytree(SOURCE_DIR / "schemas", schemas)
    assert backlogd("contracts", "check", "--schemas", schemas).returncode == 0
    (schemas / "task_event" / "v4.avsc").write_text((schemas / "task_event" / "v3.avsc").read_text())
    (schemas / "task_event" / ".v4.avsc.swp").write_text("an editor's swap file: hidden, not a schema")
    result = backlogd("contracts", "check", "--schemas", schemas)
    assert result.returncode == 1
    assert f"{schemas}/task_event/v4.avsc is not listed in {schemas}/ids.json" in result.stderr
    assert "swp" not in result.stderr


def test_catalog_errors_exit_1():
    result = backlogd("contracts", "check", "--schemas", FIXTURES / "no-such-dir")
    assert result.returncode == 1
    assert "no-such-dir/ids.json: cannot open" in result.stderr
    assert result.stdout == ""


def test_usage_errors_exit_2():
    assert backlogd("contracts").returncode == 2
    assert backlogd("contracts", "verify").returncode == 2
    assert backlogd("contracts", "check", "--bogus").returncode == 2
    assert backlogd("contracts", "check", "extra").returncode == 2
    assert backlogd("contracts", "check", "--registry", "").returncode == 2
    assert backlogd("contracts", "check", "--registry", "http://x", "--offline").returncode == 2
    help_text = backlogd("contracts", "check", "--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: backlogd contracts check")


def test_unreachable_registry_fails_fast_after_the_offline_report():
    result, outcome = backlogd_json("contracts", "check", "--json", "--registry", "http://127.0.0.1:1", timeout=30)
    assert result.returncode == 1
    assert all(c["compatible"] for c in outcome["contracts"])
    assert "cannot reach the registry" in outcome["registry"]["stopped"]
    assert len(outcome["registry"]["subjects"]) == 1  # the walk stops at the first unreachable answer
    assert "cannot reach the registry" in result.stderr


def test_configured_registry_is_used_unless_offline():
    env = clean_env(BACKLOGD_REGISTRY_URL="http://127.0.0.1:1")
    assert backlogd("contracts", "check", env=env, timeout=30).returncode == 1
    offline = backlogd("contracts", "check", "--offline", env=env)
    assert offline.returncode == 0, offline.stderr
    assert "registry" not in offline.stdout


def test_registry_url_with_credentials_is_refused_and_never_echoed():
    result, outcome = backlogd_json("contracts", "check", "--json", "--registry", "http://probe:s3cr3t@127.0.0.1:1")
    assert result.returncode == 1
    assert "must not carry credentials" in outcome["registry"]["stopped"]
    assert outcome["registry"]["url"] is None
    assert "s3cr3t" not in result.stdout + result.stderr
    text = backlogd("contracts", "check", "--registry", "http://probe:s3cr3t@127.0.0.1:1")
    assert text.returncode == 1 and "s3cr3t" not in text.stdout + text.stderr
