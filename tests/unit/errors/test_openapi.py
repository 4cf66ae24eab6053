"""The contract as published: a component schema, documented responses, a valid OpenAPI document."""

import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import FromPath
from litestar.testing import TestClient
from openapi_spec_validator import validate

from litestar_alchemy_kit.errors import ErrorsPlugin
from tests.unit.errors._fixture_app import Widget, WidgetRepository, build_app

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
    # Every route here takes a database session: what the database can refuse, and its being unavailable (503).
    created = _problem_responses(document, "/widgets", "post")
    assert created.keys() == {"400", "409", "422", "500", "503"}
    assert "validation" in created["400"]
    assert "bad_request" in created["400"]  # malformed or too deeply nested JSON
    assert "conflict.duplicate" in created["409"]
    assert "validation.out_of_range" in created["422"]
    assert "database.unavailable" in created["503"]
    fetched = _problem_responses(document, "/widgets/{widget_id}", "get")
    assert fetched.keys() == {"400", "404", "409", "422", "500", "503"}
    assert "not_found" in fetched["404"]
    assert "bad_request" not in fetched["400"]  # no body
    # Litestar's own shape for `raises` is replaced by the problem schema.
    assert _problem_responses(document, "/widgets/{widget_id}/quantity", "put").keys() == {
        "400",
        "403",
        "404",
        "409",
        "422",
        "500",
        "503",
    }
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


class _WidgetService(SQLAlchemyAsyncRepositoryService[Widget, WidgetRepository]):
    repository_type = WidgetRepository


async def _provide_service() -> AsyncGenerator[_WidgetService, None]:
    raise NotImplementedError
    yield  # pragma: no cover


class _Guard:
    """A guard from a library that knows nothing of the errors package: it only carries ``raises``."""

    raises = (NotAuthorizedException, PermissionDeniedException)

    def __call__(self, connection: Any, handler: Any) -> None:
        return None


@get("/by-repository/{item_id:int}", guards=[_Guard()], sync_to_thread=False)
def by_repository(item_id: FromPath[int], widgets: NamedDependency[WidgetRepository]) -> None:
    return None


@get("/by-service", sync_to_thread=False)
def by_service(service: NamedDependency[_WidgetService]) -> None:
    return None


@get("/plain", guards=[lambda connection, handler: None], sync_to_thread=False)
def plain() -> None:
    return None


def test_repository_and_service_dependencies_and_declaring_guards_are_documented() -> None:
    app = Litestar(
        [by_repository, by_service, plain],
        dependencies={
            "widgets": Provide(lambda: None, sync_to_thread=False),
            "service": Provide(_provide_service),
        },
        plugins=[ErrorsPlugin()],
        signature_namespace={"WidgetRepository": WidgetRepository, "_WidgetService": _WidgetService},
    )
    document = app.openapi_schema.to_schema()
    repository = _problem_responses(document, "/by-repository/{item_id}", "get")
    assert repository.keys() == {"400", "401", "403", "404", "409", "422", "500", "503"}
    assert "conflict.duplicate" in repository["409"]
    # Known through the provider's return annotation alone.
    assert _problem_responses(document, "/by-service", "get").keys() == {"404", "409", "422", "500", "503"}
    # A guard declaring nothing adds nothing.
    assert _problem_responses(document, "/plain", "get").keys() == {"500"}
