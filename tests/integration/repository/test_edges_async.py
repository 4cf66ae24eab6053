"""The review's adversarial scenarios over every async engine, with an in-process store, Redis and Valkey."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from tests.integration.repository import _async as invariants
from tests.integration.repository import _edge_async as scenarios
from tests.integration.repository.conftest import Env


async def test_column_types_round_trip(async_env: Env) -> None:
    await scenarios.column_types_round_trip(async_env)


async def test_repeated_commit_bumps_once(async_env: Env) -> None:
    await scenarios.repeated_commit_bumps_once(async_env)


async def test_other_session_commits_while_reader_is_open(async_env: Env) -> None:
    await scenarios.other_session_commits_while_reader_is_open(async_env)


async def test_expire_on_commit_sessions(async_env: Env) -> None:
    await scenarios.expire_on_commit_sessions(async_env)


async def test_unflushed_identity_map_changes(async_env: Env) -> None:
    await scenarios.unflushed_identity_map_changes(async_env)


async def test_unflushed_new_and_deleted_instances(async_env: Env) -> None:
    await scenarios.unflushed_new_and_deleted_instances(async_env)


async def test_merged_cached_results_invalidate(async_env: Env) -> None:
    await scenarios.merged_cached_results_invalidate(async_env)


async def test_bulk_updates_every_synchronize_mode(async_env: Env) -> None:
    await scenarios.bulk_updates_every_synchronize_mode(async_env)


async def test_relationship_side_effects_invalidate(async_env: Env) -> None:
    await scenarios.relationship_side_effects_invalidate(async_env)


async def test_rolled_back_savepoint_in_committed_transaction(async_env: Env) -> None:
    await scenarios.rolled_back_savepoint_in_committed_transaction(async_env)


async def test_undelivered_bump_blocks_reads(async_env: Env) -> None:
    cache, backend = scenarios.flaky_cache()
    try:
        await scenarios.undelivered_bump_blocks_reads(async_env, cache, backend)
    finally:
        await cache.close()


async def test_engine_level_isolation_never_installs_stale(async_env: Env) -> None:
    """``create_engine(isolation_level=...)``: the connection's level is not its dialect's default."""
    level = "SERIALIZABLE" if async_env.engine == "aiosqlite" else "REPEATABLE READ"
    engine = create_async_engine(async_env.engine_object.url, isolation_level=level)
    try:
        env = Env(async_sessionmaker(engine, expire_on_commit=False), async_env.make_cache, async_env.engine, engine)
        await invariants.old_snapshot_never_installs_stale(env)
    finally:
        await engine.dispose()


async def test_tenants_never_share_a_primary_key_read(async_env: Env) -> None:
    await scenarios.tenants_never_share_a_primary_key_read(async_env)
