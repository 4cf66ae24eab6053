"""Which SQL changes what later reads see (``orm.readcontext.note_state``), and how an engine's database is named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from litestar_alchemy_kit.orm import readcontext
from litestar_alchemy_kit.orm.binding import install_session_listeners
from litestar_alchemy_kit.orm.readcontext import database_token, learn_database_sync, note_state, state_bypass


@pytest.fixture
def connection() -> Iterator[Connection]:
    install_session_listeners()
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.mark.parametrize(
    "sql",
    [
        "SET search_path TO tenant_a",
        "set role app",
        "SET SESSION AUTHORIZATION app",
        "SET app.tenant = 'a'",
        "SET TIME ZONE 'UTC'",
        "  /* routed */ SET sql_mode = 'ANSI_QUOTES'",
        "USE other",
        "ATTACH DATABASE 'x.db' AS x",
        "PRAGMA case_sensitive_like = ON",
        "SELECT set_config('app.tenant', 'a', false)",
        "SELECT 1; SET search_path TO b",
        # a temporary table or view shadows the table of its name for the connection's reads
        "CREATE TEMP TABLE lak_item (id int)",
        "CREATE TEMPORARY VIEW lak_item AS SELECT 1 AS id",
    ],
)
def test_a_setting_changed_in_sql_makes_the_connections_reads_bypass(connection: Connection, sql: str) -> None:
    assert state_bypass(connection, connection.engine) is None
    note_state(connection, sql)
    assert state_bypass(connection, connection.engine) is not None
    # the setting stays with the DBAPI connection: a session whose connection is not known yet bypasses too
    assert state_bypass(None, connection.engine) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "SET statement_timeout = 5000",
        "SET LOCAL lock_timeout = '1s'",
        "SET application_name = 'worker'",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "SET CONSTRAINTS ALL DEFERRED",
        "PRAGMA foreign_keys = ON",
        "SELECT 1",
        "UPDATE t SET name = 'set role'",
        "SELECT config FROM settings",
        # back to how the connection was made: never a new state
        "RESET ALL",
        "DISCARD ALL",
        "RESET search_path",
        # a definition's body runs later (each trigger row, each call), not now; a temporary trigger shadows nothing
        "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b (id) VALUES (NEW.name); END",
        "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW BEGIN SET @x = 1; INSERT INTO b VALUES (1); END",
        "CREATE FUNCTION f() RETURNS void AS $$ BEGIN PERFORM set_config('app.t', 'a', true); END $$ LANGUAGE plpgsql",
    ],
)
def test_settings_that_change_no_result_are_left_alone(connection: Connection, sql: str) -> None:
    note_state(connection, sql)
    assert state_bypass(connection, connection.engine) is None


def test_set_local_lasts_beyond_the_transaction_but_on_postgresql(connection: Connection) -> None:
    """MySQL's (and SQLite's, DuckDB's) ``SET LOCAL`` is a session setting; PostgreSQL's ends with the transaction
    (tests/integration/repository/test_read_context.py shows it there)."""
    with connection.begin():
        note_state(connection, "SET LOCAL time_zone = '+09:00'")
        assert state_bypass(connection, connection.engine) is not None
    assert state_bypass(connection, connection.engine) is not None
    assert state_bypass(None, connection.engine) is not None  # a pooled connection carries it


def test_a_setting_goes_with_its_connection(tmp_path: Any) -> None:
    install_session_listeners()
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with engine.connect() as conn:
            note_state(conn, "PRAGMA case_sensitive_like = ON")
        assert state_bypass(None, engine) is not None  # the pool holds the connection
        engine.dispose()  # closes it
        assert state_bypass(None, engine) is None
    finally:
        engine.dispose()


def test_a_compiled_select_changes_settings_by_set_config_only(connection: Connection) -> None:
    note_state(connection, "SELECT t.id FROM t WHERE t.name = ?", compiled_select=True)
    assert state_bypass(connection, connection.engine) is None
    note_state(connection, "SELECT SET_CONFIG(?, ?, ?) AS set_config_1", compiled_select=True)
    assert state_bypass(connection, connection.engine) is not None


def _connected(engine: Engine) -> str | None:
    with engine.connect():
        pass
    return database_token(engine)


def test_an_engine_is_named_by_what_it_connects_with(tmp_path: Any) -> None:
    install_session_listeners()
    url = f"sqlite:///{tmp_path / 'a.db'}"
    plain, same, other = (create_engine(url), create_engine(url), create_engine(f"sqlite:///{tmp_path / 'b.db'}"))
    timeout = create_engine(url, connect_args={"timeout": 7})
    try:
        assert database_token(plain) is None  # not connected yet: unknown, its reads bypass
        tokens = [_connected(engine) for engine in (plain, same, other, timeout)]
        assert None not in tokens
        assert tokens[0] == tokens[1]
        assert len(set(tokens)) == 3
    finally:
        for engine in (plain, same, other, timeout):
            engine.dispose()


def test_an_engine_whose_connections_differ_is_never_served(tmp_path: Any) -> None:
    install_session_listeners()
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}", poolclass=None)
    made: list[int] = []

    @event.listens_for(engine, "do_connect")
    def vary(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        del dialect, record, cargs
        made.append(1)
        cparams["timeout"] = len(made)  # each connection made differently

    try:
        with engine.connect() as first, engine.connect() as second:
            del first, second
        assert len(made) == 2
        assert database_token(engine) == ""  # known, and never served
    finally:
        engine.dispose()


class _Record:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


def test_a_password_is_not_part_of_the_name() -> None:
    """Connect arguments as the driver gets them, but for the password (a token is a key's part, stored in clear)."""
    seen: list[str | None] = []
    for password in ("one", "two", "two"):
        engine = create_engine(f"postgresql+psycopg://app:{password}@127.0.0.1:1/test", poolclass=NullPool)
        record: Any = _Record()
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        assert cparams["password"] == password
        readcontext._do_connect(engine.dialect, record, list(cargs), dict(cparams))
        readcontext._connected(object(), record)
        seen.append(database_token(engine))
        engine.dispose()
    assert seen[0] is not None and seen[0] == seen[1] == seen[2]


def test_an_engine_on_a_custom_creator_is_named_by_its_url(tmp_path: Any) -> None:
    """SQLAlchemy calls a ``creator`` with no arguments (no ``do_connect``): once it hands out a connection, its URL
    names it, whatever its pool (a ``NullPool`` holds none to look at)."""
    import sqlite3

    install_session_listeners()
    path = tmp_path / "a.db"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(path), poolclass=NullPool)
    try:
        assert database_token(engine) is None
        learn_database_sync(engine)  # what a cached read does first
        assert database_token(engine) is not None
    finally:
        engine.dispose()
