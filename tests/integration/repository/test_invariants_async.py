"""DESIGN.md's cache invariants over every async engine, with an in-process store and Redis."""

from __future__ import annotations

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
