"""Writes made durable before their transaction's commit (W5), over every sync engine and cache store."""

from __future__ import annotations

import pytest

from tests.conftest import _engine_params
from tests.integration.repository import _durable_sync as scenarios
from tests.integration.repository.conftest import Env

MYSQL = {"pymysql"}
# SET autocommit is MySQL's / MariaDB's: the other engines are not even set up
ONLY_MYSQL = pytest.mark.parametrize("sync_engine", _engine_params(tuple(MYSQL)), indirect=True)
# which spellings of COMMIT each database accepts
COMMIT_SPELLINGS = {"end": ({"psycopg_sync", "sqlite", "duckdb"}, "MySQL has no END statement")}


@pytest.mark.parametrize("end", ["close", "rollback"])
@pytest.mark.parametrize("form", scenarios.WRITES)
def test_connection_commit_in_a_session_is_delivered(sync_env: Env, form: str, end: str) -> None:
    scenarios.connection_commit_in_session(sync_env, form, end)


@pytest.mark.parametrize("spelling", sorted(scenarios.COMMIT_STATEMENTS))
@pytest.mark.parametrize("form", [*scenarios.WRITES, "connection"])
def test_commit_statement_is_delivered(sync_env: Env, form: str, spelling: str) -> None:
    engines, why = COMMIT_SPELLINGS.get(spelling, (None, ""))
    if engines is not None and sync_env.engine not in engines:
        pytest.skip(f"{sync_env.engine}: {why}")
    if spelling == "commit_work" and sync_env.engine in {"sqlite", "duckdb"}:
        pytest.skip(f"{sync_env.engine}: no COMMIT WORK")
    scenarios.commit_statement(sync_env, form, scenarios.COMMIT_STATEMENTS[spelling])


@pytest.mark.parametrize("statement", scenarios.IMPLICIT)
@pytest.mark.parametrize("form", scenarios.WRITES)
def test_implicit_commit_is_delivered(sync_env: Env, form: str, statement: str) -> None:
    if sync_env.engine not in MYSQL:
        pytest.skip(f"{sync_env.engine}: DDL is transactional; implicit commits are MySQL's / MariaDB's")
    scenarios.implicit_commit(sync_env, form, statement)


# SQLite's released savepoint and writes its driver begins nothing for: every form on SQLite; the other engines, where
# nothing commits early, once each (controls: the suite's budget)
@pytest.mark.parametrize("sync_engine", _engine_params(("sqlite",)), indirect=True)
@pytest.mark.parametrize("begun", [False, True], ids=["first", "in_transaction"])
@pytest.mark.parametrize("form", scenarios.WRITES)
def test_released_savepoint_then_rollback(sync_env: Env, form: str, begun: bool) -> None:
    scenarios.released_savepoint(sync_env, form, begun=begun)


@pytest.mark.parametrize("sync_engine", _engine_params(("psycopg_sync", "pymysql")), indirect=True)
def test_released_savepoint_commits_nothing_elsewhere(sync_env: Env) -> None:
    scenarios.released_savepoint(sync_env, "flush", begun=False)


@pytest.mark.parametrize("sync_engine", _engine_params(("sqlite", "psycopg_sync")), indirect=True)
@pytest.mark.parametrize("spelling", sorted(scenarios.UNBEGUN_WRITE))
def test_write_the_driver_begins_no_transaction_for(sync_env: Env, spelling: str) -> None:
    scenarios.unbegun_write(sync_env, spelling)


@pytest.mark.parametrize("sync_engine", _engine_params(("sqlite",)), indirect=True)
@pytest.mark.parametrize("control", ["none", "recipe"])
def test_sqlite_driver_transaction_control(sync_env: Env, control: str) -> None:
    """isolation_level=None is the SQLite driver's: the other engines are not even set up."""
    scenarios.driver_transaction_control(sync_env, control)


@pytest.mark.parametrize("form", scenarios.WRITES)
def test_rollback_still_leaves_the_cache_as_it_was(sync_env: Env, form: str) -> None:
    scenarios.rollback_still_forgets(sync_env, form)


@pytest.mark.parametrize("form", scenarios.WRITES)
def test_a_statement_that_may_commit_keeps_the_tags(sync_env: Env, form: str) -> None:
    if sync_env.engine in MYSQL:
        sql = "UNLOCK TABLES"  # commits only while tables are locked
    elif sync_env.engine == "psycopg_sync":
        sql = "DO $$ BEGIN PERFORM 1; END $$"  # an END that ends a block, not the transaction
    else:
        pytest.skip(f"{sync_env.engine}: runs one statement at a time, and no statement may commit implicitly")
    scenarios.maybe_commit_keeps_the_tags(sync_env, form, sql)


@ONLY_MYSQL
@pytest.mark.parametrize(
    ("form", "spelling"),
    [
        *((form, "plain") for form in (*scenarios.WRITES, "connection")),
        *(("orm_update", spelling) for spelling in sorted(scenarios.AUTOCOMMIT_ON) if spelling != "plain"),
    ],
)
def test_turning_autocommit_on_is_delivered(sync_env: Env, form: str, spelling: str) -> None:
    scenarios.autocommit_on(sync_env, form, scenarios.AUTOCOMMIT_ON[spelling])


@ONLY_MYSQL
def test_turning_autocommit_off_again_waits_for_the_commit(sync_env: Env) -> None:
    scenarios.autocommit_off_again(sync_env)
