"""Writes made durable before their transaction's commit (W5), over every async engine and cache store."""

from __future__ import annotations

import pytest

from tests.conftest import _engine_params
from tests.integration.repository import _durable_async as scenarios
from tests.integration.repository.conftest import Env

MYSQL = {"asyncmy"}
# SET autocommit is MySQL's / MariaDB's: the other engines are not even set up
ONLY_MYSQL = pytest.mark.parametrize("async_engine", _engine_params(tuple(MYSQL)), indirect=True)
# which spellings of COMMIT each database accepts
COMMIT_SPELLINGS = {"end": ({"asyncpg", "psycopg_async", "aiosqlite"}, "MySQL has no END statement")}


@pytest.mark.parametrize("end", ["close", "rollback"])
@pytest.mark.parametrize("form", scenarios.WRITES)
async def test_connection_commit_in_a_session_is_delivered(async_env: Env, form: str, end: str) -> None:
    await scenarios.connection_commit_in_session(async_env, form, end)


@pytest.mark.parametrize("spelling", sorted(scenarios.COMMIT_STATEMENTS))
@pytest.mark.parametrize("form", [*scenarios.WRITES, "connection"])
async def test_commit_statement_is_delivered(async_env: Env, form: str, spelling: str) -> None:
    engines, why = COMMIT_SPELLINGS.get(spelling, (None, ""))
    if engines is not None and async_env.engine not in engines:
        pytest.skip(f"{async_env.engine}: {why}")
    if spelling == "commit_work" and async_env.engine == "aiosqlite":
        pytest.skip(f"{async_env.engine}: no COMMIT WORK")
    await scenarios.commit_statement(async_env, form, scenarios.COMMIT_STATEMENTS[spelling])


@pytest.mark.parametrize("statement", scenarios.IMPLICIT)
@pytest.mark.parametrize("form", scenarios.WRITES)
async def test_implicit_commit_is_delivered(async_env: Env, form: str, statement: str) -> None:
    if async_env.engine not in MYSQL:
        pytest.skip(f"{async_env.engine}: DDL is transactional; implicit commits are MySQL's / MariaDB's")
    await scenarios.implicit_commit(async_env, form, statement)


# SQLite's released savepoint and writes its driver begins nothing for: every form on SQLite; the other engines, where
# nothing commits early, once each (controls: the suite's budget)
@pytest.mark.parametrize("async_engine", _engine_params(("aiosqlite",)), indirect=True)
@pytest.mark.parametrize("begun", [False, True], ids=["first", "in_transaction"])
@pytest.mark.parametrize("form", scenarios.WRITES)
async def test_released_savepoint_then_rollback(async_env: Env, form: str, begun: bool) -> None:
    await scenarios.released_savepoint(async_env, form, begun=begun)


@pytest.mark.parametrize("async_engine", _engine_params(("asyncpg", "asyncmy")), indirect=True)
async def test_released_savepoint_commits_nothing_elsewhere(async_env: Env) -> None:
    await scenarios.released_savepoint(async_env, "flush", begun=False)


@pytest.mark.parametrize("async_engine", _engine_params(("aiosqlite", "asyncpg")), indirect=True)
@pytest.mark.parametrize("spelling", sorted(scenarios.UNBEGUN_WRITE))
async def test_write_the_driver_begins_no_transaction_for(async_env: Env, spelling: str) -> None:
    await scenarios.unbegun_write(async_env, spelling)


@pytest.mark.parametrize("async_engine", _engine_params(("aiosqlite",)), indirect=True)
@pytest.mark.parametrize("control", ["none", "recipe"])
async def test_sqlite_driver_transaction_control(async_env: Env, control: str) -> None:
    """isolation_level=None is the SQLite driver's: the other engines are not even set up."""
    await scenarios.driver_transaction_control(async_env, control)


@pytest.mark.parametrize("form", scenarios.WRITES)
async def test_rollback_still_leaves_the_cache_as_it_was(async_env: Env, form: str) -> None:
    await scenarios.rollback_still_forgets(async_env, form)


@pytest.mark.parametrize("form", scenarios.WRITES)
async def test_a_statement_that_may_commit_keeps_the_tags(async_env: Env, form: str) -> None:
    if async_env.engine in MYSQL:
        sql = "UNLOCK TABLES"  # commits only while tables are locked
    elif async_env.engine in {"asyncpg", "psycopg_async"}:
        sql = "DO $$ BEGIN PERFORM 1; END $$"  # an END that ends a block, not the transaction
    else:
        pytest.skip(f"{async_env.engine}: runs one statement at a time, and no statement may commit implicitly")
    await scenarios.maybe_commit_keeps_the_tags(async_env, form, sql)


@ONLY_MYSQL
@pytest.mark.parametrize(
    ("form", "spelling"),
    [
        *((form, "plain") for form in (*scenarios.WRITES, "connection")),
        *(("orm_update", spelling) for spelling in sorted(scenarios.AUTOCOMMIT_ON) if spelling != "plain"),
    ],
)
async def test_turning_autocommit_on_is_delivered(async_env: Env, form: str, spelling: str) -> None:
    await scenarios.autocommit_on(async_env, form, scenarios.AUTOCOMMIT_ON[spelling])


@ONLY_MYSQL
async def test_turning_autocommit_off_again_waits_for_the_commit(async_env: Env) -> None:
    await scenarios.autocommit_off_again(async_env)
