"""Hostile input and a failing database over HTTP, on every engine that applies: the contract holds, nothing leaks,
nothing half-written survives."""

from typing import Any

import pytest
from litestar.testing import AsyncTestClient, TestClient
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from tests._backends import free_port
from tests.integration.errors.hostile_app import Kill, build_hostile_app, build_sync_hostile_app
from tests.integration.errors.models import SECRETS, Parent

pytestmark = pytest.mark.integration

# (column values, what overflows): past int32 for INTEGER, past int16 for SMALLINT, past int64 / uint64 for BIGINT.
OUT_OF_RANGE = {
    "integer": {"id": 2**31},
    "smallint": {"id": 1, "small": 40_000},
    "bigint": {"id": 1, "big": 2**63},
    "beyond_uint64": {"id": 1, "big": 2**64},
}
SERVER_DIALECTS = {"postgresql", "mysql", "mariadb"}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    for secret in (*SECRETS, "OverflowError", "out of range for", "Conversion Error", "QueuePool"):
        assert secret.lower() not in response.text.lower(), secret
    return body


def _sync_url(url: URL) -> URL:
    return url.set(drivername={"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}[url.get_backend_name()])


def killer(url: URL) -> Kill:
    """Ends a server session from a connection of its own (pg_terminate_backend, MariaDB's KILL)."""

    def kill(backend_id: int) -> None:
        engine = create_engine(_sync_url(url), poolclass=NullPool)
        statement = (
            f"SELECT pg_terminate_backend({backend_id})"
            if url.get_backend_name() == "postgresql"
            else f"KILL {backend_id}"
        )
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    return kill


def unreachable(url: URL) -> URL:
    """The same database on a port nothing listens on, or an SQLite file in a directory that does not exist."""
    if url.get_backend_name() in {"sqlite", "duckdb"}:
        return url.set(database="/nonexistent-lak-directory/db.sqlite")
    return url.set(host="127.0.0.1", port=free_port(), query={})


# --- async engines -----------------------------------------------------------------------


@pytest.mark.parametrize("values", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
async def test_out_of_range_values_are_422(engine: AsyncEngine, values: dict[str, int]) -> None:
    async with AsyncTestClient(build_hostile_app(engine)) as client:
        response = await client.post("/numbers", json=values)
        stored = await client.post("/numbers", json={"id": 5, "small": 7, "big": 2**62})
    if engine.dialect.name == "sqlite" and values in ({"id": 2**31}, {"id": 1, "small": 40_000}):
        # SQLite's INTEGER is 64-bit whatever the declared width: these fit, and are stored.
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 422, "validation.out_of_range")
    assert stored.status_code == 201, stored.text


async def test_deeply_nested_body_is_400(engine: AsyncEngine) -> None:
    async with AsyncTestClient(build_hostile_app(engine)) as client:
        response = await client.post(
            "/numbers", content="[" * 100_000 + "]" * 100_000, headers={"content-type": "application/json"}
        )
    body = assert_problem(response, 400, "bad_request")
    assert body["detail"] == "The request body is nested too deeply."


async def test_lost_connection_is_503_and_nothing_is_written(engine: AsyncEngine) -> None:
    if engine.dialect.name not in SERVER_DIALECTS:
        pytest.skip(f"{engine.dialect.name} is embedded: there is no connection to lose")
    async with AsyncTestClient(build_hostile_app(engine, killer(engine.url))) as client:
        response = await client.post("/lost-connection")
        after = await client.get("/parents")
    assert_problem(response, 503, "database.unavailable")
    assert response.headers["retry-after"] == "1"
    # The pool replaced the dead connection, and the write before the kill was rolled back with it.
    assert after.json() == ["taken"]
    async with async_sessionmaker(engine)() as session:
        assert (await session.scalars(select(Parent.name))).all() == ["taken"]
    await engine.dispose()


async def test_unreachable_database_is_503(engine: AsyncEngine) -> None:
    app_engine = create_async_engine(unreachable(engine.url))
    async with AsyncTestClient(build_hostile_app(app_engine)) as client:
        response = await client.get("/parents")
    assert_problem(response, 503, "database.unavailable")
    assert response.headers["retry-after"] == "1"


async def test_exhausted_pool_is_503(engine: AsyncEngine) -> None:
    app_engine = create_async_engine(engine.url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    async with AsyncTestClient(build_hostile_app(app_engine)) as client:
        response = await client.get("/exhausted-pool")
        after = await client.get("/parents")
    assert_problem(response, 503, "database.unavailable")
    assert response.headers["retry-after"] == "1"
    assert after.json() == ["taken"]  # the held connection went back to the pool


# --- sync engines ------------------------------------------------------------------------


@pytest.mark.parametrize("values", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
def test_out_of_range_values_are_422_on_sync_engines(seeded_sync_engine: Engine, values: dict[str, int]) -> None:
    with TestClient(build_sync_hostile_app(seeded_sync_engine)) as client:
        response = client.post("/numbers", json=values)
    if seeded_sync_engine.dialect.name == "sqlite" and values in ({"id": 2**31}, {"id": 1, "small": 40_000}):
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 422, "validation.out_of_range")


def test_lost_connection_is_503_and_nothing_is_written_on_sync_engines(seeded_sync_engine: Engine) -> None:
    if seeded_sync_engine.dialect.name not in SERVER_DIALECTS:
        pytest.skip(f"{seeded_sync_engine.dialect.name} is embedded: there is no connection to lose")
    with TestClient(build_sync_hostile_app(seeded_sync_engine, killer(seeded_sync_engine.url))) as client:
        response = client.post("/lost-connection")
    assert_problem(response, 503, "database.unavailable")
    assert response.headers["retry-after"] == "1"
    with sessionmaker(seeded_sync_engine)() as session:
        assert session.scalars(select(Parent.name)).all() == ["taken"]


def test_unreachable_database_is_503_on_sync_engines(seeded_sync_engine: Engine) -> None:
    with TestClient(build_sync_hostile_app(create_engine(unreachable(seeded_sync_engine.url)))) as client:
        response = client.get("/parents")
    assert_problem(response, 503, "database.unavailable")


def test_exhausted_pool_is_503_on_sync_engines(seeded_sync_engine: Engine) -> None:
    app_engine = create_engine(seeded_sync_engine.url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    with TestClient(build_sync_hostile_app(app_engine)) as client:
        response = client.get("/exhausted-pool")
    assert_problem(response, 503, "database.unavailable")
    assert response.headers["retry-after"] == "1"
