"""Hostile input never produces a 500, and every error body validates against the published schema."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.errors._fixture_app import build_app

HUGE = 2**200
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-HUGE, max_value=HUGE)
    | st.floats()
    | st.text(max_size=300)
    | st.text(min_size=5000, max_size=20000),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12,
)
widget_like = st.fixed_dictionaries(
    {"name": json_values | st.text(min_size=1, max_size=120), "quantity": json_values | st.integers(-HUGE, HUGE)},
    optional={"tags": json_values, "unknown": json_values, "__proto__": json_values},
)
bodies = st.one_of(
    st.binary(max_size=500),  # broken JSON and garbage bytes
    st.text(max_size=300).map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
    widget_like.map(lambda value: json.dumps(value).encode()),
)
segments = st.one_of(
    st.integers(min_value=-HUGE, max_value=HUGE).map(str),
    st.text(max_size=200).map(lambda text: quote(text, safe="")),
    st.sampled_from(["..", "%00", "%2e%2e%2f", "1e309", "NaN", "-0", "0x10", " 1", "1/../.."]),
)
queries = st.dictionaries(
    st.sampled_from(["q", "limit", "quantity", "x"]),
    st.integers(min_value=-HUGE, max_value=HUGE).map(str) | st.text(max_size=400),
    max_size=3,
)
requests = st.one_of(
    st.tuples(st.just("POST"), st.just("/widgets"), bodies, st.just({})),
    st.tuples(st.just("GET"), segments.map(lambda s: f"/widgets/{s}"), st.none(), queries),
    st.tuples(st.just("PUT"), segments.map(lambda s: f"/widgets/{s}/quantity"), st.none() | bodies, queries),
    st.tuples(st.just("GET"), st.just("/search"), st.none(), queries),
    st.tuples(
        st.sampled_from(["DELETE", "PATCH", "POST", "GET"]),
        segments.map(lambda s: f"/{s}"),
        st.none() | bodies,
        queries,
    ),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Litestar]]:
    with TestClient(build_app(tmp_path_factory.mktemp("fuzz") / "fuzz.db")) as client:
        # A row to conflict with and to find.
        assert client.post("/widgets", json={"name": "existing", "quantity": 1}).status_code == 201
        yield client


@pytest.fixture(scope="module")
def validator(client: TestClient[Litestar]) -> jsonschema.Draft202012Validator:
    components = client.app.openapi_schema.to_schema()["components"]
    return jsonschema.Draft202012Validator({"$ref": "#/components/schemas/ProblemDetails", "components": components})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=requests)
def test_hostile_input_gets_the_contract_and_no_500(
    client: TestClient[Litestar],
    validator: jsonschema.Draft202012Validator,
    request: tuple[str, str, Any, dict[str, str]],
) -> None:
    method, path, body, params = request
    response = client.request(method, path, content=body, params=params, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        validator.validate(problem)
        assert problem["status"] == response.status_code


def test_duplicate_and_out_of_range_inputs_are_client_errors(client: TestClient[Litestar]) -> None:
    """The specific hostile cases the fuzzer aims at, pinned down."""
    duplicate = client.post("/widgets", json={"name": "existing", "quantity": 2})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "conflict.duplicate")
    too_big = client.get(f"/widgets/{2**70}")
    assert (too_big.status_code, too_big.json()["code"]) == (400, "validation")
    assert too_big.json()["errors"][0]["source"] == "path"
    broken = client.post(
        "/widgets", content=b'{"name": "x", "quantity": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["code"] in {"bad_request", "validation"}
