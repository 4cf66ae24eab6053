"""Cache-safety holes (issue 10) closed, over every sync engine and cache store where they apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.integration.repository import _safety_sync as scenarios
from tests.integration.repository.conftest import Env

SERVER_ENGINES = {"psycopg_sync", "pymysql"}
JOIN_MODES = ("conditional_savepoint", "create_savepoint", "rollback_only", "control_fully")


def _only(env: Env, engines: set[str], why: str) -> None:
    if env.engine not in engines:
        pytest.skip(f"{env.engine}: {why}")


@pytest.mark.parametrize("level", ["engine", "connection", "session", "statement"])
def test_schema_translate_map_never_leaks_tenants(sync_env: Env, level: str) -> None:
    _only(sync_env, SERVER_ENGINES, "schema-per-tenant needs PostgreSQL schemas or MariaDB databases")
    scenarios.schema_translate_at_every_level(sync_env, level)


def test_unencodable_engine_option_bypasses(sync_env: Env) -> None:
    scenarios.unencodable_option_bypasses(sync_env)


@pytest.mark.parametrize("mode", JOIN_MODES)
@pytest.mark.parametrize("isolation", ["engine", "option", None])
def test_joined_old_snapshot_never_installs(sync_env: Env, mode: str, isolation: str | None) -> None:
    if sync_env.engine == "psycopg_sync":
        if isolation is None:
            pytest.skip("PostgreSQL's default READ COMMITTED takes a snapshot per statement")
    elif sync_env.engine == "pymysql":
        if isolation is not None:
            pytest.skip("MariaDB's default is already REPEATABLE READ")
    else:
        pytest.skip("SQLite has no REPEATABLE READ snapshot a joined session could inherit")
    scenarios.joined_old_snapshot_never_installs(sync_env, mode, isolation)


def test_dirty_reads_never_populate(sync_env: Env, tmp_path: Path) -> None:
    if sync_env.engine == "pymysql":
        writer = sync_env.engine_object
        reader = sync_env.engine_object.execution_options(isolation_level="READ UNCOMMITTED")
        scenarios.dirty_reads_never_populate(sync_env, writer, reader)
        return
    if sync_env.engine != "sqlite":
        pytest.skip("PostgreSQL runs READ UNCOMMITTED as READ COMMITTED: no dirty reads")
    # SQLite reads uncommitted rows only between connections sharing a cache
    url = f"sqlite:///file:{sync_env.engine_object.url.database}?cache=shared&uri=true"
    writer = create_engine(url)
    reader = create_engine(url, isolation_level="READ UNCOMMITTED")
    try:
        scenarios.dirty_reads_never_populate(sync_env, writer, reader)
    finally:
        writer.dispose()
        reader.dispose()


RAW_FORMS = [
    "text",
    "session_connection",
    "engine_construct",
    "engine_driver_sql",
    "autocommit",
    "bulk_update",
    "bulk_insert",
    "bulk_save",
    "truncate",
    "cte",
    "replace",
    "merge",
    "unattributable",
    "from_statement_update",
    "from_statement_text",
    "textual_select",
    "from_statement_delete",
    "ddl_update",
    "ddl_truncate",
    "multi_table_update",
]
RETURNING = {"psycopg_sync", "sqlite", "duckdb"}
ONLY = {
    "cte": ({"psycopg_sync"}, "data-modifying CTEs are PostgreSQL's"),
    "merge": ({"psycopg_sync"}, "MERGE is PostgreSQL's (15+) here"),
    "replace": ({"pymysql", "sqlite"}, "REPLACE INTO is MariaDB's and SQLite's"),
    "unattributable": (SERVER_ENGINES, "SQLite has no procedures"),
    "from_statement_update": (RETURNING, "MariaDB has no UPDATE ... RETURNING"),
    "from_statement_text": (RETURNING, "MariaDB has no UPDATE ... RETURNING"),
    "textual_select": (RETURNING, "MariaDB has no UPDATE ... RETURNING"),
    "multi_table_update": ({"pymysql"}, "multi-table UPDATE is MySQL's / MariaDB's"),
}


@pytest.mark.parametrize("form", RAW_FORMS)
def test_raw_writes_invalidate(sync_env: Env, form: str) -> None:
    if form == "autocommit" and sync_env.engine == "duckdb":
        pytest.skip("duckdb-engine has no AUTOCOMMIT isolation level")
    if form in ONLY:
        _only(sync_env, *ONLY[form])
    scenarios.raw_write_invalidates(sync_env, form)


@pytest.mark.parametrize("form", scenarios.EVENT_WRITE_FORMS)
def test_writes_in_flush_events_invalidate(sync_env: Env, form: str) -> None:
    scenarios.writes_in_flush_events_invalidate(sync_env, form)


def test_uncommitted_raw_write_bypasses(sync_env: Env) -> None:
    scenarios.uncommitted_raw_write_bypasses(sync_env)


def test_engine_commit_window_closed(sync_env: Env) -> None:
    scenarios.engine_commit_window_closed(sync_env)


def test_joined_session_writes_count_at_the_real_commit(sync_env: Env) -> None:
    scenarios.joined_session_writes_count_at_the_real_commit(sync_env)


def test_raw_set_transaction_never_installs_stale(sync_env: Env) -> None:
    _only(sync_env, SERVER_ENGINES, "SQLite and DuckDB have no SET TRANSACTION")
    scenarios.raw_set_transaction_never_installs_stale(sync_env)


def test_refresh_materialized_view_invalidates(sync_env: Env) -> None:
    _only(sync_env, {"psycopg_sync"}, "materialized views are PostgreSQL's")
    scenarios.refresh_materialized_view_invalidates(sync_env)


def test_respelled_engine_invalidates(sync_env: Env) -> None:
    scenarios.respelled_engine_invalidates(sync_env)


@pytest.mark.parametrize("join", scenarios.JOINS)
def test_joined_session_counts_at_the_outer_commit(sync_env: Env, join: str) -> None:
    if join == "binds_savepoint" and sync_env.engine == "duckdb":
        pytest.skip("duckdb has no SAVEPOINT")
    scenarios.joined_session_counts_at_the_outer_commit(sync_env, join)


@pytest.mark.parametrize("form", scenarios.UNCACHED_WRITES)
def test_uncached_session_writes_count(sync_env: Env, form: str) -> None:
    scenarios.uncached_session_writes_count(sync_env, form)


@pytest.mark.parametrize("reader", scenarios.JOINED_READERS)
def test_joined_reads_see_uncommitted_writes(sync_env: Env, reader: str) -> None:
    if sync_env.engine == "duckdb":
        pytest.skip("duckdb has no SAVEPOINT")
    scenarios.joined_reads_see_uncommitted_writes(sync_env, reader)
