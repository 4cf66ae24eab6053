"""Real constraint violations on every engine of the matrix become the error contract, and leak nothing."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from advanced_alchemy.exceptions import RepositoryError
from advanced_alchemy.repository import SQLAlchemySyncRepository
from litestar.testing import AsyncTestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from litestar_alchemy_kit.errors import resolve
from litestar_alchemy_kit.errors.integrity import driver_error
from tests.integration.errors.app import VIOLATIONS, build_app
from tests.integration.errors.models import SECRETS, Child, DeferredBase, ErrorsBase, Parent

pytestmark = pytest.mark.integration

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "trace_id"}


def _enforce_sqlite_foreign_keys(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()


def _has_deferrable(dialect: str) -> bool:
    return dialect in {"postgresql", "sqlite"}


@pytest.fixture
async def engine(async_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    _enforce_sqlite_foreign_keys(async_engine.sync_engine)
    deferred = _has_deferrable(async_engine.dialect.name)
    async with async_engine.begin() as conn:
        if deferred:
            await conn.run_sync(DeferredBase.metadata.drop_all)
        await conn.run_sync(ErrorsBase.metadata.drop_all)
        await conn.run_sync(ErrorsBase.metadata.create_all)
        if deferred:
            await conn.run_sync(DeferredBase.metadata.create_all)
    async with async_sessionmaker(async_engine)() as session:
        session.add(Parent(id=1, name="taken"))
        await session.commit()
    # The test client runs the app on an event loop of its own: pooled connections must not cross loops.
    await async_engine.dispose()
    yield async_engine
    await async_engine.dispose()
    async with async_engine.begin() as conn:
        if deferred:
            await conn.run_sync(DeferredBase.metadata.drop_all)
        await conn.run_sync(ErrorsBase.metadata.drop_all)


def assert_contract(body: dict[str, Any], status: int, code: str, captured: list[BaseException]) -> None:
    """The body is the contract and says nothing the database said."""
    assert PROBLEM_KEYS <= body.keys() <= PROBLEM_KEYS | {"errors"}, body
    assert (body["status"], body["code"], body["type"]) == (status, code, "about:blank")
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
    if not _has_deferrable(engine.dialect.name):
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


# --- sync engines: the mapping applied to the exception each engine really raises ----------------


@pytest.fixture
def sync_session(sync_engine: Engine) -> Iterator[Session]:
    _enforce_sqlite_foreign_keys(sync_engine)
    ErrorsBase.metadata.drop_all(sync_engine)
    ErrorsBase.metadata.create_all(sync_engine)
    with sessionmaker(sync_engine)() as session:
        session.add(Parent(id=1, name="taken"))
        session.commit()
        yield session
    ErrorsBase.metadata.drop_all(sync_engine)


class ParentSyncRepository(SQLAlchemySyncRepository[Parent]):
    model_type = Parent


class ChildSyncRepository(SQLAlchemySyncRepository[Child]):
    model_type = Child


def _violate_sync(session: Session, kind: str) -> None:
    parents, children = ParentSyncRepository(session=session), ChildSyncRepository(session=session)
    rows = {
        "unique": (parents, Parent(id=2, name="taken")),
        "foreign_key": (children, Child(id=1, parent_id=999, name="orphan", qty=1)),
        "not_null": (children, Child(id=2, parent_id=1, name=None, qty=1)),
        "check": (children, Child(id=3, parent_id=1, name="negative", qty=-1)),
    }
    repository, row = rows[kind]
    repository.add(row)


@pytest.mark.parametrize("kind", list(VIOLATIONS))
def test_violation_mapping_on_sync_engines(sync_session: Session, kind: str) -> None:
    with pytest.raises(RepositoryError) as raised:
        _violate_sync(sync_session, kind)
    sync_session.rollback()
    resolution = resolve(raised.value, {})
    status, code = VIOLATIONS[kind]
    assert (resolution.problem_type.status, resolution.problem_type.code) == (status, code)
    orig = driver_error(raised.value)
    assert orig is not None
    said = f"{resolution.detail} {resolution.problem_type.title} {resolution.headers} {resolution.errors}"
    assert str(orig) not in said
    for secret in SECRETS:
        assert secret.lower() not in said.lower()
