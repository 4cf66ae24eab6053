"""The ``get(pk)`` shortcut's own checks, and stale sets inside transactions, over every async engine and store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from tests.integration.repository import _async as invariants
from tests.integration.repository import _shortcut_async as scenarios
from tests.integration.repository._routing import routed_session_class
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import RepoBase


async def test_primary_key_read_sees_own_uncommitted_update(async_env: Env) -> None:
    await scenarios.primary_key_read_sees_own_uncommitted_update(async_env)


async def test_primary_key_read_never_publishes_uncommitted(async_env: Env) -> None:
    if async_env.engine == "aiosqlite":
        pytest.skip("sqlite: no isolation level with transactions lets a read inside one populate")
    level = scenarios.populating_level(async_env.engine)
    await scenarios.primary_key_read_never_publishes_uncommitted(scenarios.populating_env(async_env, level))


@pytest.fixture
async def other_engine(async_env: Env, second_database: Callable[[URL], URL]) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(second_database(async_env.engine_object.url))
    async with engine.begin() as conn:
        await conn.run_sync(RepoBase.metadata.drop_all)
        await conn.run_sync(RepoBase.metadata.create_all)
    yield engine
    async with engine.begin() as conn:
        await conn.run_sync(RepoBase.metadata.drop_all)
    await engine.dispose()


async def test_primary_key_read_follows_bind_group(async_env: Env, other_engine: AsyncEngine) -> None:
    routed = async_sessionmaker(
        async_env.engine_object,
        sync_session_class=routed_session_class({"other": other_engine.sync_engine}),
        expire_on_commit=False,
    )
    await scenarios.primary_key_read_follows_bind_group(async_env, routed, other_engine)


async def test_slow_reader_never_installs_stale_inside_transactions(async_env: Env) -> None:
    """The forced interleaving of invariant 3 where a read inside a transaction populates (so order matters)."""
    env = scenarios.populating_env(async_env, scenarios.populating_level(async_env.engine))
    await invariants.slow_reader_never_installs_stale(env, iterations=3)
    await scenarios.reads_inside_transactions_populate(env)


async def test_attached_reads_come_from_the_session(async_env: Env) -> None:
    await scenarios.attached_reads_come_from_the_session(async_env)


async def test_attached_hits_behave_like_a_query(async_env: Env) -> None:
    await scenarios.attached_hits_behave_like_a_query(async_env)
