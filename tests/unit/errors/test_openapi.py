"""The contract as published: a component schema, documented responses, a valid OpenAPI document."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from litestar.testing import TestClient
from openapi_spec_validator import validate

from tests.unit.errors._fixture_app import build_app

PROBLEM = "application/problem+json"


@pytest.fixture
def document(tmp_path: Path) -> dict[str, Any]:
    return build_app(tmp_path / "openapi.db").openapi_schema.to_schema()


def _problem_responses(document: dict[str, Any], path: str, method: str) -> dict[str, str]:
    responses = document["paths"][path][method]["responses"]
    return {
        status: response["description"]
        for status, response in responses.items()
        if PROBLEM in response.get("content", {})
        and response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
    }


def test_default_config_round_trips_and_validates(tmp_path: Path, document: dict[str, Any]) -> None:
    with TestClient(build_app(tmp_path / "served.db")) as client:
        served = client.get("/schema/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(document)) == document  # what is served is what was built
    validate(served.json())  # raises on an invalid OpenAPI document
    schema = document["components"]["schemas"]["ProblemDetails"]
    assert set(schema["required"]) == {"type", "title", "status", "detail", "instance", "code", "trace_id"}
    assert {"errors", "exception"} <= schema["properties"].keys()
    assert "FieldError" in document["components"]["schemas"]


def test_operations_document_their_problems(document: dict[str, Any]) -> None:
    created = _problem_responses(document, "/widgets", "post")
    assert created.keys() == {"400", "409", "500"}
    assert "validation" in created["400"]
    assert "conflict.duplicate" in created["409"]
    fetched = _problem_responses(document, "/widgets/{widget_id}", "get")
    assert fetched.keys() == {"400", "404", "500"}
    assert "not_found" in fetched["404"]
    # Litestar's own shape for `raises` is replaced by the problem schema.
    assert _problem_responses(document, "/widgets/{widget_id}/quantity", "put").keys() == {"400", "403", "404", "500"}
    # A handler without input cannot fail validation; every operation can fail internally.
    assert _problem_responses(document, "/health", "get").keys() == {"500"}


def test_explicit_responses_win(document: dict[str, Any]) -> None:
    teapot = document["paths"]["/search"]["get"]["responses"]["418"]
    assert teapot["description"] == "user documented"
    assert PROBLEM not in teapot["content"]


def test_real_error_bodies_validate_against_the_published_schema(tmp_path: Path) -> None:
    app = build_app(tmp_path / "bodies.db")
    document = app.openapi_schema.to_schema()
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/ProblemDetails", "components": document["components"]}
    )
    with TestClient(app) as client:
        responses = [
            client.post("/widgets", json={"name": "", "quantity": -1}),
            client.get("/widgets/12345"),
            client.get("/nowhere"),
            client.delete("/health"),
        ]
    assert [r.status_code for r in responses] == [400, 404, 404, 405]
    for response in responses:
        validator.validate(response.json())


def test_documentation_can_be_turned_off(tmp_path: Path) -> None:
    from litestar_alchemy_kit.errors import ErrorsConfig

    document = build_app(tmp_path / "off.db", ErrorsConfig(document_responses=False)).openapi_schema.to_schema()
    assert _problem_responses(document, "/widgets", "post") == {}
