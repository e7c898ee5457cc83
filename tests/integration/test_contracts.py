"""`backlogd contracts check --registry` against the real Schema Registry the
suite runs (Apicurio, Confluent-compatible API): subjects are <prefix><topic>-value,
a subject nobody registered is "not registered", a registered one is judged
both by the registry and by backlogd's own resolution."""
import json
import urllib.error
import urllib.request

from conftest_common import SOURCE_DIR, backlogd, backlogd_json, clean_env
from kafka_tools import REGISTRY, unique_prefix

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
SCHEMAS = SOURCE_DIR / "schemas"


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(REGISTRY + path, data=data, method=method,
                                     headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def register(subject, schema, level):
    """Registers schema (a dict or text) under subject and sets the subject's compatibility level."""
    text = schema if isinstance(schema, str) else json.dumps(schema)
    status, registered = call("POST", f"/subjects/{subject}/versions", {"schema": text})
    assert status == 200, registered
    status, answer = call("PUT", f"/config/{subject}", {"compatibility": level})
    assert status == 200, answer
    return registered["id"]


def check(prefix, *args):
    env = clean_env(BACKLOGD_TOPICS_PREFIX=prefix)
    return backlogd_json("contracts", "check", "--json", "--registry", REGISTRY, *args, env=env)


def subjects_of(outcome):
    return {s["subject"]: s for s in outcome["registry"]["subjects"]}


def test_registered_v1_is_compatible_and_the_rest_not_registered():
    prefix = unique_prefix("contracts")
    schema_id = register(f"{prefix}tasks.events-value", (SCHEMAS / "task_event" / "v1.avsc").read_text(),
                         "BACKWARD")
    result, outcome = check(prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    subjects = subjects_of(outcome)
    events = subjects[f"{prefix}tasks.events-value"]
    assert events["status"] == "compatible" and events["contract"] == "task_event" and events["version"] == 3
    assert events["registered_version"] == 1 and events["registered_id"] == schema_id
    assert subjects[f"{prefix}tasks.results-value"]["status"] == "not_registered"
    # Every subject of every contract, dispatch.<domain> once per configured domain.
    assert len(subjects) == 9 and f"{prefix}dispatch.evaluation-value" in subjects
    assert outcome["registry"]["compatible"] == 1 and outcome["registry"]["not_registered"] == 8

    text = backlogd("contracts", "check", "--registry", REGISTRY, env=clean_env(BACKLOGD_TOPICS_PREFIX=prefix))
    assert text.returncode == 0
    assert f"compatible      {prefix}tasks.events-value (registered version 1, id {schema_id})" in text.stdout
    assert f"not registered  {prefix}tasks.results-value" in text.stdout


def test_registered_schema_that_v2_cannot_read_is_reported():
    """Someone registered a TaskEvent whose EventType has PAUSED: v2 cannot read those events."""
    prefix = unique_prefix("contracts")
    paused = json.loads((SCHEMAS / "task_event" / "v2.avsc").read_text())
    event_type = next(f for f in paused["fields"] if f["name"] == "event_type")
    event_type["type"]["symbols"].append("PAUSED")
    register(f"{prefix}tasks.events-value", paused, "BACKWARD")

    result, outcome = check(prefix)
    assert result.returncode == 1
    assert all(c["compatible"] for c in outcome["contracts"]) and outcome["ok"] is False
    events = subjects_of(outcome)[f"{prefix}tasks.events-value"]
    assert events["status"] == "incompatible"
    assert any(r.startswith("registry: ") for r in events["reasons"])
    assert ("backlogd: TaskEvent.event_type: writer symbol PAUSED is not in the reader enum EventType, "
            "which has no default") in events["reasons"]

    text = backlogd("contracts", "check", "--registry", REGISTRY, env=clean_env(BACKLOGD_TOPICS_PREFIX=prefix))
    assert text.returncode == 1
    assert f"INCOMPATIBLE    {prefix}tasks.events-value" in text.stdout
    assert "1 incompatible" in text.stderr


def test_a_subject_without_a_rule_is_still_checked_by_backlogd():
    """With compatibility NONE the registry accepts anything; backlogd's own resolution does not."""
    prefix = unique_prefix("contracts")
    older = json.loads((SCHEMAS / "transition" / "v1.avsc").read_text())
    older["fields"] = [f for f in older["fields"] if f["name"] != "at"]
    register(f"{prefix}backlog.transitions-value", older, "NONE")

    result, outcome = check(prefix)
    assert result.returncode == 1
    transitions = subjects_of(outcome)[f"{prefix}backlog.transitions-value"]
    assert transitions["status"] == "incompatible"
    assert transitions["reasons"] == [
        "backlogd: Transition.at: reader field has no default and the writer has no such field"]


def test_unchanged_contract_under_a_copy_of_itself():
    """The newest version registered as is: compatible, whatever the level."""
    prefix = unique_prefix("contracts")
    dispatch = json.loads((SCHEMAS / "dispatch_decision" / "v2.avsc").read_text())
    register(f"{prefix}dispatch.remediation-value", dispatch, "BACKWARD_TRANSITIVE")
    result, outcome = check(prefix)
    assert result.returncode == 0, result.stdout
    assert subjects_of(outcome)[f"{prefix}dispatch.remediation-value"]["status"] == "compatible"
    assert subjects_of(outcome)[f"{prefix}dispatch.evaluation-value"]["status"] == "not_registered"
