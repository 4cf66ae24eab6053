"""DESIGN.md's cache invariants over every async engine, with an in-process store and Redis."""

from __future__ import annotations

import pytest

from tests.integration.repository import _async as scenarios
from tests.integration.repository.conftest import Env


async def test_read_after_commit_across_caches(async_env: Env) -> None:
    await scenarios.read_after_commit_across_caches(async_env, iterations=15)


async def test_every_write_counts(async_env: Env) -> None:
    await scenarios.every_write_counts(async_env)


async def test_rollback_changes_nothing(async_env: Env) -> None:
    await scenarios.rollback_changes_nothing(async_env)


async def test_uncommitted_changes_bypass(async_env: Env) -> None:
    await scenarios.uncommitted_changes_bypass(async_env)


async def test_slow_reader_never_installs_stale(async_env: Env) -> None:
    await scenarios.slow_reader_never_installs_stale(async_env, iterations=5)


async def test_old_snapshot_never_installs_stale(async_env: Env) -> None:
    await scenarios.old_snapshot_never_installs_stale(async_env)


async def test_dependencies_count(async_env: Env) -> None:
    await scenarios.dependencies_count(async_env)


async def test_inheritance_counts(async_env: Env) -> None:
    await scenarios.inheritance_counts(async_env)


async def test_scopes_never_collide(async_env: Env) -> None:
    await scenarios.scopes_never_collide(async_env)


async def test_results_behave(async_env: Env) -> None:
    await scenarios.results_behave(async_env)


async def test_reads_through_every_method(async_env: Env) -> None:
    await scenarios.reads_through_every_method(async_env)


async def test_identity_map_never_installs_stale(async_env: Env) -> None:
    await scenarios.identity_map_never_installs_stale(async_env)


async def test_services_cache_and_invalidate(async_env: Env) -> None:
    await scenarios.services_cache_and_invalidate(async_env)


async def test_fail_open(async_env: Env) -> None:
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from litestar_alchemy_kit.cache import AsyncCache, CacheOptions

    # Nothing listens on port 1; no client-side retries, so each failure is immediate.
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1, retry=Retry(NoBackoff(), 0))
    dead = AsyncCache(RedisStore(client, namespace="dead"), namespace="dead", options=CacheOptions(timeout=0.2))
    try:
        await scenarios.fail_open(async_env, dead)
    finally:
        await dead.close()
        await client.aclose()


async def test_unfingerprintable_reads_bypass(async_env: Env) -> None:
    await scenarios.unfingerprintable_reads_bypass(async_env)


async def test_savepoint_release_is_not_a_commit(async_env: Env) -> None:
    if async_env.engine == "aiosqlite":
        pytest.skip("pysqlite's legacy transaction control makes RELEASE SAVEPOINT a real commit")
    await scenarios.savepoint_release_is_not_a_commit(async_env)


async def test_service_writes_read_the_database(async_env: Env) -> None:
    await scenarios.service_writes_read_the_database(async_env)


async def test_repository_update_reads_the_database(async_env: Env) -> None:
    await scenarios.repository_update_reads_the_database(async_env)
