"""The Schema Registry the suite starts answers the Confluent-compatible API
calls backlogd relies on (SPEC §2): register under <topic>-value, fetch by id,
latest version, and the BACKWARD compatibility check."""
import json
import urllib.error
import urllib.request
import uuid

from kafka_tools import REGISTRY

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

V1 = {"type": "record", "name": "Probe", "namespace": "backlogd.test",
      "fields": [{"name": "id", "type": "string"}]}
V2_COMPATIBLE = {**V1, "fields": V1["fields"] + [{"name": "tier", "type": "string", "default": "standard"}]}
V2_INCOMPATIBLE = {**V1, "fields": V1["fields"] + [{"name": "tier", "type": "string"}]}


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(REGISTRY + path, data=data, method=method,
                                     headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_registry_answers():
    status, subjects = call("GET", "/subjects")
    assert status == 200 and isinstance(subjects, list)


def test_register_fetch_and_check_compatibility():
    subject = f"probe-{uuid.uuid4().hex[:8]}-value"
    status, registered = call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(V1)})
    assert status == 200, registered
    schema_id = registered["id"]

    status, fetched = call("GET", f"/schemas/ids/{schema_id}")
    assert status == 200 and json.loads(fetched["schema"]) == V1

    status, latest = call("GET", f"/subjects/{subject}/versions/latest")
    assert status == 200 and latest["id"] == schema_id and latest["version"] == 1

    status, _ = call("PUT", f"/config/{subject}", {"compatibility": "BACKWARD"})
    assert status == 200
    status, verdict = call("POST", f"/compatibility/subjects/{subject}/versions/latest",
                           {"schema": json.dumps(V2_COMPATIBLE)})
    assert status == 200 and verdict["is_compatible"] is True
    status, verdict = call("POST", f"/compatibility/subjects/{subject}/versions/latest",
                           {"schema": json.dumps(V2_INCOMPATIBLE)})
    assert status == 200 and verdict["is_compatible"] is False

    # Registering the same schema again gives the same id: ids are immutable.
    status, again = call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(V1)})
    assert status == 200 and again["id"] == schema_id
