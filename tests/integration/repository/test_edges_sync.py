"""The review's adversarial scenarios over every sync engine, with an in-process store, Redis and Valkey."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from tests.integration.repository import _edge_sync as scenarios
from tests.integration.repository import _sync as invariants
from tests.integration.repository.conftest import Env


def test_column_types_round_trip(sync_env: Env) -> None:
    scenarios.column_types_round_trip(sync_env)


def test_repeated_commit_bumps_once(sync_env: Env) -> None:
    scenarios.repeated_commit_bumps_once(sync_env)


def test_other_session_commits_while_reader_is_open(sync_env: Env) -> None:
    scenarios.other_session_commits_while_reader_is_open(sync_env)


def test_expire_on_commit_sessions(sync_env: Env) -> None:
    scenarios.expire_on_commit_sessions(sync_env)


def test_unflushed_identity_map_changes(sync_env: Env) -> None:
    scenarios.unflushed_identity_map_changes(sync_env)


def test_unflushed_new_and_deleted_instances(sync_env: Env) -> None:
    scenarios.unflushed_new_and_deleted_instances(sync_env)


def test_merged_cached_results_invalidate(sync_env: Env) -> None:
    scenarios.merged_cached_results_invalidate(sync_env)


def test_bulk_updates_every_synchronize_mode(sync_env: Env) -> None:
    scenarios.bulk_updates_every_synchronize_mode(sync_env)


def test_relationship_side_effects_invalidate(sync_env: Env) -> None:
    scenarios.relationship_side_effects_invalidate(sync_env)


def test_rolled_back_savepoint_in_committed_transaction(sync_env: Env) -> None:
    if sync_env.engine == "duckdb":
        pytest.skip("duckdb has no SAVEPOINT")
    scenarios.rolled_back_savepoint_in_committed_transaction(sync_env)


def test_undelivered_bump_blocks_reads(sync_env: Env) -> None:
    cache, backend = scenarios.flaky_cache()
    try:
        scenarios.undelivered_bump_blocks_reads(sync_env, cache, backend)
    finally:
        cache.close()


def test_engine_level_isolation_never_installs_stale(sync_env: Env) -> None:
    """``create_engine(isolation_level=...)``: the connection's level is not its dialect's default."""
    if sync_env.engine == "duckdb":
        pytest.skip("duckdb has no isolation levels to choose from")
    level = "SERIALIZABLE" if sync_env.engine == "sqlite" else "REPEATABLE READ"
    engine = create_engine(sync_env.engine_object.url, isolation_level=level)
    try:
        env = Env(sessionmaker(engine, expire_on_commit=False), sync_env.make_cache, sync_env.engine, engine)
        invariants.old_snapshot_never_installs_stale(env)
    finally:
        engine.dispose()


def test_tenants_never_share_a_primary_key_read(sync_env: Env) -> None:
    scenarios.tenants_never_share_a_primary_key_read(sync_env)
