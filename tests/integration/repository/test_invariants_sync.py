"""DESIGN.md's cache invariants over every sync engine, with an in-process store and Redis."""

from __future__ import annotations

import pytest

from tests.integration.repository import _sync as scenarios
from tests.integration.repository.conftest import Env


def test_read_after_commit_across_caches(sync_env: Env) -> None:
    scenarios.read_after_commit_across_caches(sync_env, iterations=15)


def test_every_write_counts(sync_env: Env) -> None:
    scenarios.every_write_counts(sync_env)


def test_rollback_changes_nothing(sync_env: Env) -> None:
    scenarios.rollback_changes_nothing(sync_env)


def test_uncommitted_changes_bypass(sync_env: Env) -> None:
    scenarios.uncommitted_changes_bypass(sync_env)


def test_slow_reader_never_installs_stale(sync_env: Env) -> None:
    scenarios.slow_reader_never_installs_stale(sync_env, iterations=5)


def test_old_snapshot_never_installs_stale(sync_env: Env) -> None:
    scenarios.old_snapshot_never_installs_stale(sync_env)


def test_dependencies_count(sync_env: Env) -> None:
    scenarios.dependencies_count(sync_env)


def test_inheritance_counts(sync_env: Env) -> None:
    scenarios.inheritance_counts(sync_env)


def test_scopes_never_collide(sync_env: Env) -> None:
    scenarios.scopes_never_collide(sync_env)


def test_results_behave(sync_env: Env) -> None:
    scenarios.results_behave(sync_env)


def test_reads_through_every_method(sync_env: Env) -> None:
    scenarios.reads_through_every_method(sync_env)


def test_identity_map_never_installs_stale(sync_env: Env) -> None:
    scenarios.identity_map_never_installs_stale(sync_env)


def test_services_cache_and_invalidate(sync_env: Env) -> None:
    scenarios.services_cache_and_invalidate(sync_env)


def test_fail_open(sync_env: Env) -> None:
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from litestar_alchemy_kit.cache import CacheOptions, SyncCache

    # Nothing listens on port 1; no client-side retries, so each failure is immediate.
    client = Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.1, socket_timeout=0.1, retry=Retry(NoBackoff(), 0)
    )
    dead = SyncCache(client, namespace="dead", options=CacheOptions(timeout=0.2))
    try:
        scenarios.fail_open(sync_env, dead)
    finally:
        dead.close()
        client.close()


def test_unfingerprintable_reads_bypass(sync_env: Env) -> None:
    scenarios.unfingerprintable_reads_bypass(sync_env)


def test_savepoint_release_is_not_a_commit(sync_env: Env) -> None:
    if sync_env.engine in {"sqlite", "duckdb"}:
        pytest.skip(
            f"{sync_env.engine}: RELEASE SAVEPOINT is not a nested commit with this driver's default transaction control"
        )
    scenarios.savepoint_release_is_not_a_commit(sync_env)


def test_service_writes_read_the_database(sync_env: Env) -> None:
    scenarios.service_writes_read_the_database(sync_env)


def test_repository_update_reads_the_database(sync_env: Env) -> None:
    scenarios.repository_update_reads_the_database(sync_env)
