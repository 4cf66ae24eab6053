"""Cache-safety holes (issue 10) closed, over every async engine and cache store where they apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.repository import _safety_async as scenarios
from tests.integration.repository.conftest import Env

SERVER_ENGINES = {"asyncpg", "psycopg_async", "asyncmy"}
JOIN_MODES = ("conditional_savepoint", "create_savepoint", "rollback_only", "control_fully")


def _only(env: Env, engines: set[str], why: str) -> None:
    if env.engine not in engines:
        pytest.skip(f"{env.engine}: {why}")


@pytest.mark.parametrize("level", ["engine", "connection", "session", "statement"])
async def test_schema_translate_map_never_leaks_tenants(async_env: Env, level: str) -> None:
    _only(async_env, SERVER_ENGINES, "schema-per-tenant needs PostgreSQL schemas or MariaDB databases")
    await scenarios.schema_translate_at_every_level(async_env, level)


async def test_unencodable_engine_option_bypasses(async_env: Env) -> None:
    await scenarios.unencodable_option_bypasses(async_env)


@pytest.mark.parametrize("mode", JOIN_MODES)
@pytest.mark.parametrize("isolation", ["engine", "option", None])
async def test_joined_old_snapshot_never_installs(async_env: Env, mode: str, isolation: str | None) -> None:
    if async_env.engine in {"asyncpg", "psycopg_async"}:
        if isolation is None:
            pytest.skip("PostgreSQL's default READ COMMITTED takes a snapshot per statement")
    elif async_env.engine == "asyncmy":
        if isolation is not None:
            pytest.skip("MariaDB's default is already REPEATABLE READ")
    else:
        pytest.skip("SQLite has no REPEATABLE READ snapshot a joined session could inherit")
    await scenarios.joined_old_snapshot_never_installs(async_env, mode, isolation)


async def test_dirty_reads_never_populate(async_env: Env, tmp_path: Path) -> None:
    if async_env.engine == "asyncmy":
        writer = async_env.engine_object
        reader = async_env.engine_object.execution_options(isolation_level="READ UNCOMMITTED")
        await scenarios.dirty_reads_never_populate(async_env, writer, reader)
        return
    if async_env.engine != "aiosqlite":
        pytest.skip("PostgreSQL runs READ UNCOMMITTED as READ COMMITTED: no dirty reads")
    # SQLite reads uncommitted rows only between connections sharing a cache
    url = f"sqlite+aiosqlite:///file:{async_env.engine_object.url.database}?cache=shared&uri=true"
    writer = create_async_engine(url)
    reader = create_async_engine(url, isolation_level="READ UNCOMMITTED")
    try:
        await scenarios.dirty_reads_never_populate(async_env, writer, reader)
    finally:
        await writer.dispose()
        await reader.dispose()


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
RETURNING = {"asyncpg", "psycopg_async", "aiosqlite"}
ONLY = {
    "cte": ({"asyncpg", "psycopg_async"}, "data-modifying CTEs are PostgreSQL's"),
    "merge": ({"asyncpg", "psycopg_async"}, "MERGE is PostgreSQL's (15+) here"),
    "replace": ({"asyncmy", "aiosqlite"}, "REPLACE INTO is MariaDB's and SQLite's"),
    "unattributable": (SERVER_ENGINES, "SQLite has no procedures"),
    "from_statement_update": (RETURNING, "MariaDB has no UPDATE ... RETURNING"),
    "from_statement_text": (RETURNING, "MariaDB has no UPDATE ... RETURNING"),
    "textual_select": (RETURNING, "MariaDB has no UPDATE ... RETURNING"),
    "multi_table_update": ({"asyncmy"}, "multi-table UPDATE is MySQL's / MariaDB's"),
}


@pytest.mark.parametrize("form", RAW_FORMS)
async def test_raw_writes_invalidate(async_env: Env, form: str) -> None:
    if form == "autocommit" and async_env.engine == "duckdb":
        pytest.skip("duckdb-engine has no AUTOCOMMIT isolation level")
    if form in ONLY:
        _only(async_env, *ONLY[form])
    await scenarios.raw_write_invalidates(async_env, form)


@pytest.mark.parametrize("form", scenarios.EVENT_WRITE_FORMS)
async def test_writes_in_flush_events_invalidate(async_env: Env, form: str) -> None:
    await scenarios.writes_in_flush_events_invalidate(async_env, form)


async def test_uncommitted_raw_write_bypasses(async_env: Env) -> None:
    await scenarios.uncommitted_raw_write_bypasses(async_env)


async def test_engine_commit_window_closed(async_env: Env) -> None:
    await scenarios.engine_commit_window_closed(async_env)


async def test_joined_session_writes_count_at_the_real_commit(async_env: Env) -> None:
    await scenarios.joined_session_writes_count_at_the_real_commit(async_env)


async def test_raw_set_transaction_never_installs_stale(async_env: Env) -> None:
    _only(async_env, SERVER_ENGINES, "SQLite and DuckDB have no SET TRANSACTION")
    await scenarios.raw_set_transaction_never_installs_stale(async_env)


async def test_refresh_materialized_view_invalidates(async_env: Env) -> None:
    _only(async_env, {"asyncpg", "psycopg_async"}, "materialized views are PostgreSQL's")
    await scenarios.refresh_materialized_view_invalidates(async_env)


async def test_respelled_engine_invalidates(async_env: Env) -> None:
    await scenarios.respelled_engine_invalidates(async_env)


@pytest.mark.parametrize("join", scenarios.JOINS)
async def test_joined_session_counts_at_the_outer_commit(async_env: Env, join: str) -> None:
    if join == "binds_savepoint" and async_env.engine == "duckdb":
        pytest.skip("duckdb has no SAVEPOINT")
    await scenarios.joined_session_counts_at_the_outer_commit(async_env, join)


@pytest.mark.parametrize("form", scenarios.UNCACHED_WRITES)
async def test_uncached_session_writes_count(async_env: Env, form: str) -> None:
    await scenarios.uncached_session_writes_count(async_env, form)


@pytest.mark.parametrize("reader", scenarios.JOINED_READERS)
async def test_joined_reads_see_uncommitted_writes(async_env: Env, reader: str) -> None:
    if async_env.engine == "duckdb":
        pytest.skip("duckdb has no SAVEPOINT")
    await scenarios.joined_reads_see_uncommitted_writes(async_env, reader)
