"""The agents' JSON Schemas (schemas/agent/) and what is held to them: the
schemas are valid JSON Schema; the requests the encoder writes
(tests/fixtures/agent/request, pinned by tests/unit/test_agent_request.c)
validate against request-v1; the response fixtures that the decoder accepts
(tests/unit/test_agent_answer.c: .../response/valid) validate against
response-v1 and those it refuses (.../invalid) do not, so the decoder accepts
exactly what the schema allows; and every example of docs/agents.md is valid."""
import json
import re

import jsonschema
import pytest

from conftest_common import FIXTURES, SOURCE_DIR

SCHEMAS = SOURCE_DIR / "schemas" / "agent"
RESPONSES = FIXTURES / "agent" / "response"


def schema(name):
    document = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_the_schemas_are_valid_and_versioned():
    for name, title in [("request-v1.json", "backlogd.agent.request.v1"),
                        ("response-v1.json", "backlogd.agent.response.v1")]:
        document = json.loads((SCHEMAS / name).read_text())
        jsonschema.Draft202012Validator.check_schema(document)
        assert document["properties"]["schema"]["const"] == title
        assert document["additionalProperties"] is False


@pytest.mark.parametrize("path", sorted((FIXTURES / "agent" / "request").glob("*.json")), ids=lambda p: p.name)
def test_the_encoders_requests_validate(path):
    schema("request-v1.json").validate(json.loads(path.read_text()))


@pytest.mark.parametrize("path", sorted((RESPONSES / "valid").glob("*.json")), ids=lambda p: p.name)
def test_what_the_decoder_accepts_the_schema_allows(path):
    schema("response-v1.json").validate(json.loads(path.read_text()))


@pytest.mark.parametrize("path", sorted((RESPONSES / "invalid").glob("*.json")), ids=lambda p: p.name)
def test_what_the_decoder_refuses_the_schema_refuses(path):
    try:
        document = json.loads(path.read_text())
    except ValueError:
        return  # not JSON: nothing to validate, refused by both
    assert not schema("response-v1.json").is_valid(document), path.name


def test_both_sets_are_large_enough_to_mean_something():
    assert len(list((RESPONSES / "valid").glob("*.json"))) >= 9
    assert len(list((RESPONSES / "invalid").glob("*.json"))) >= 40


def docs_examples():
    """The JSON blocks of docs/agents.md that are marked as a request or a response."""
    text = (SOURCE_DIR / "docs" / "agents.md").read_text()
    return re.findall(r"<!-- (request|response) example -->\s*```json\n(.*?)```", text, re.S)


def test_the_docs_examples_validate():
    examples = docs_examples()
    assert {kind for kind, _ in examples} == {"request", "response"}
    for kind, text in examples:
        schema(f"{kind}-v1.json").validate(json.loads(text))
