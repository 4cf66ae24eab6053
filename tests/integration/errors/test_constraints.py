"""Real constraint violations on every engine of the matrix become the error contract, and leak nothing."""

import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient, TestClient
from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from litestar_alchemy_kit.errors.integrity import driver_error
from tests.integration.errors.app import VIOLATIONS, build_app
from tests.integration.errors.models import SECRETS, Parent, has_deferrable
from tests.integration.errors.sync_app import build_sync_app

pytestmark = pytest.mark.integration

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "trace_id"}


# The client-facing text per code: fixed, whatever the database said.
DETAILS = {
    "conflict.duplicate": ("Conflict", "A resource with the same unique value exists."),
    "conflict.foreign_key": ("Conflict", "The change refers to, or is referred to by, another resource."),
    "integrity.not_null": ("Unprocessable Entity", "A required value is missing."),
    "integrity.check": ("Unprocessable Entity", "A value does not satisfy a data rule."),
    "invalid_data": ("Unprocessable Entity", "A value cannot be stored as given."),
}


def assert_contract(body: dict[str, Any], status: int, code: str, captured: list[BaseException]) -> None:
    """The body is the contract and says nothing the database said."""
    assert body.keys() == PROBLEM_KEYS, body
    assert (body["status"], body["code"], body["type"]) == (status, code, "about:blank")
    assert (body["title"], body["detail"]) == DETAILS[code]
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"])
    orig = driver_error(captured[-1])
    assert orig is not None, f"no driver error behind {captured[-1]!r}"
    text = repr(body)
    assert str(orig) not in text
    for line in filter(None, (part.strip() for part in str(orig).splitlines())):
        assert line not in text, line
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), secret


@pytest.mark.parametrize("kind", list(VIOLATIONS))
async def test_violation_through_http(engine: AsyncEngine, kind: str) -> None:
    captured: list[BaseException] = []
    async with AsyncTestClient(build_app(engine, captured)) as client:
        response = await client.post(f"/violations/{kind}")
    status, code = VIOLATIONS[kind]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert_contract(response.json(), status, code, captured)
    assert response.json()["instance"] == f"/violations/{kind}"


async def test_data_error_is_invalid_data(engine: AsyncEngine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    captured: list[BaseException] = []
    async with AsyncTestClient(build_app(engine, captured)) as client:
        response = await client.post("/violations/too_long")
    assert response.status_code == 422, response.text
    assert_contract(response.json(), 422, "invalid_data", captured)


async def test_commit_time_unique_violation_returns_the_contract(engine: AsyncEngine) -> None:
    captured: list[BaseException] = []
    async with AsyncTestClient(build_app(engine, captured)) as client:
        failed = await client.post("/commit-time/unique")
        created = await client.post("/parents/7")
    assert failed.status_code == 409, failed.text
    assert_contract(failed.json(), 409, "conflict.duplicate", captured)
    # The guard did not break ordinary commits, and the failed request left nothing behind.
    assert created.status_code == 201
    async with async_sessionmaker(engine)() as session:
        names = sorted((await session.scalars(select(Parent.name))).all())
    assert names == ["parent-7", "taken"]


async def test_commit_time_deferred_foreign_key_returns_the_contract(engine: AsyncEngine) -> None:
    if not has_deferrable(engine.dialect.name):
        pytest.skip(f"{engine.dialect.name} has no deferrable constraints")
    captured: list[BaseException] = []
    async with AsyncTestClient(build_app(engine, captured)) as client:
        response = await client.post("/commit-time/deferred")
    assert response.status_code == 409, response.text
    assert_contract(response.json(), 409, "conflict.foreign_key", captured)


async def test_without_the_plugin_aa_drops_the_failed_commit(engine: AsyncEngine) -> None:
    """Why the guard exists: AA's autocommit handler swallows the commit error and sends the 201.

    If this starts failing, AA fixed it upstream and the guard can be reconsidered.
    """
    captured: list[BaseException] = []
    async with AsyncTestClient(build_app(engine, captured, with_errors_plugin=False)) as client:
        response = await client.post("/commit-time/unique")
    assert response.status_code == 201
    async with async_sessionmaker(engine)() as session:
        assert (await session.scalars(select(Parent.name))).all() == ["taken"]


# --- sync engines: the same, through Advanced Alchemy's sync config -----------------------------


@pytest.mark.parametrize("kind", list(VIOLATIONS))
def test_violation_through_http_on_sync_engines(seeded_sync_engine: Engine, kind: str) -> None:
    captured: list[BaseException] = []
    with TestClient(build_sync_app(seeded_sync_engine, captured)) as client:
        response = client.post(f"/violations/{kind}")
    status, code = VIOLATIONS[kind]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert_contract(response.json(), status, code, captured)


def test_commit_time_unique_violation_on_sync_engines(seeded_sync_engine: Engine) -> None:
    captured: list[BaseException] = []
    with TestClient(build_sync_app(seeded_sync_engine, captured)) as client:
        response = client.post("/commit-time/unique")
    assert response.status_code == 409, response.text
    assert_contract(response.json(), 409, "conflict.duplicate", captured)
    with sessionmaker(seeded_sync_engine)() as session:
        assert session.scalars(select(Parent.name)).all() == ["taken"]
