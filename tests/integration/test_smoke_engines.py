"""The harness is real: every engine in the matrix runs CRUD through an AA repository."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from tests.integration.smoke import _async, _sync
from tests.integration.smoke.models import SmokeBase


@pytest.fixture
async def async_session(async_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with async_engine.begin() as conn:
        await conn.run_sync(SmokeBase.metadata.drop_all)
        await conn.run_sync(SmokeBase.metadata.create_all)
    async with async_sessionmaker(async_engine, expire_on_commit=False)() as session:
        yield session
    async with async_engine.begin() as conn:
        await conn.run_sync(SmokeBase.metadata.drop_all)


@pytest.fixture
def sync_session(sync_engine: Engine) -> Iterator[Session]:
    SmokeBase.metadata.drop_all(sync_engine)
    SmokeBase.metadata.create_all(sync_engine)
    with sessionmaker(sync_engine, expire_on_commit=False)() as session:
        yield session
    SmokeBase.metadata.drop_all(sync_engine)


async def test_async_crud(async_session: AsyncSession) -> None:
    await _async.crud_round_trip(async_session)


async def test_async_duplicate_key(async_session: AsyncSession) -> None:
    await _async.duplicate_is_reported(async_session)


def test_sync_crud(sync_session: Session) -> None:
    _sync.crud_round_trip(sync_session)


def test_sync_duplicate_key(request: pytest.FixtureRequest, sync_session: Session) -> None:
    if request.node.callspec.params["sync_engine"] == "duckdb":
        # AA 1.12 has no duplicate-key pattern for DuckDB (DUPLICATE_KEY_REGEXES["duckdb"] == []),
        # so a unique violation arrives as its generic IntegrityError. Strict: fixing it upstream
        # (or here) turns this into a failure that asks for the marker to go.
        request.applymarker(
            pytest.mark.xfail(reason="AA 1.12 maps DuckDB unique violations to IntegrityError", strict=True)
        )
    _sync.duplicate_is_reported(sync_session)
