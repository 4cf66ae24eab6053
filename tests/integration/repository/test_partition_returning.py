"""The tenant of a row whose UPDATE keeps it comes back with that UPDATE where the database can return it.

Where it is returned is correct is shown by the tenant scenarios (a stale session's write lands where the row is,
on every engine); these show which statements a write costs, and what is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, FetchedValue, String, event, func, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.repository import CachedSyncRepository
from tests.integration.repository import _tenants_sync as scenarios
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Project

pytestmark = pytest.mark.parametrize("cache_store", ["memory_store"], indirect=True)

RETURNS = frozenset({"sqlite", "psycopg_sync"})
"""The engines whose UPDATE returns the tenant (MariaDB has no ``UPDATE ... RETURNING``, DuckDB's trips its foreign keys)."""


class ReturningBase(DeclarativeBase):
    """Tables of these tests alone."""


class Stamped(ReturningBase):
    """A tenant-owned row with a column the database sets on every UPDATE (a trigger's): SQLAlchemy expires it after one."""

    __tablename__ = "lak_returning_stamped"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(20))
    stamp: Mapped[int] = mapped_column(server_default=text("0"), server_onupdate=FetchedValue())  # a trigger's


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL ``engine`` runs inside the block, as sent."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:  # noqa: PLR0917
        del conn, cursor, parameters, context, executemany
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _returns(sql: str) -> bool:
    return " RETURNING " in f" {sql.upper()} "


def _touching(seen: list[str], table: str) -> list[str]:
    return [sql.split(" ")[0].upper() for sql in seen if table in sql]


def test_an_update_keeping_its_tenant_returns_it(sync_env: Env) -> None:
    """One row renamed: its UPDATE returns the tenant, and nothing reads the row after it (a read on MariaDB, and on
    DuckDB, whose RETURNING would refuse to update a row that tasks reference, as p1 is)."""
    ids = scenarios.seed(sync_env)
    cache = sync_env.make_cache()
    with sync_env.bound(cache)() as session:
        held = session.get(Project, ids["p1"])
        assert held is not None
        held.name = "p1-renamed"
        with statements(sync_env.engine_object) as seen:
            session.commit()
    updates = [sql for sql in seen if sql.upper().startswith("UPDATE")]
    assert len(updates) == 1, seen
    if sync_env.engine in RETURNS:
        assert _returns(updates[0]), updates
        assert _touching(seen, "lak_repo_project") == ["UPDATE"], seen
    else:
        assert not _returns(updates[0]), updates
        assert _touching(seen, "lak_repo_project") == ["UPDATE", "SELECT"], seen
    assert held.name == "p1-renamed"
    assert scenarios.projects(sync_env, sync_env.make_cache(), 1) == ["p1-renamed", "p2"]


def test_the_returned_tenant_is_not_set_on_the_instance(sync_env: Env) -> None:
    """A row another transaction moved: the write's UPDATE returns where it is, which invalidates that
    partition, and the instance keeps what the session loaded (as after a read: the flush sets no attribute)."""
    if sync_env.engine not in RETURNS:
        pytest.skip("no UPDATE ... RETURNING: the row is read after its UPDATE")
    ids = scenarios.seed(sync_env)
    reader = sync_env.make_cache()
    with sync_env.bound(sync_env.make_cache())() as stale:
        held = stale.get(Project, ids["p2"])
        assert held is not None
        stale.commit()
        with sync_env.engine_object.begin() as conn:
            conn.execute(text("UPDATE lak_repo_project SET tenant = 2 WHERE name = 'p2'"))
        assert scenarios.projects(sync_env, reader, 2) == ["p2", "p3"]
        held.name = "p2-renamed"
        with statements(sync_env.engine_object) as seen:
            stale.commit()
        assert _touching(seen, "lak_repo_project") == ["UPDATE"], seen
        assert held.tenant == 1
    assert scenarios.projects(sync_env, reader, 2) == ["p2-renamed", "p3"]


def test_a_table_the_database_updates_itself_is_read(sync_env: Env) -> None:
    """A column the database sets on UPDATE: RETURNING would set it on the instance instead of expiring it, so the row is read after."""
    engine = sync_env.engine_object
    ReturningBase.metadata.drop_all(engine)
    ReturningBase.metadata.create_all(engine)
    try:
        with sync_env.bound(sync_env.make_cache())() as session:
            session.add(Stamped(id=1, tenant=1, name="a"))
            session.commit()
            row = session.get(Stamped, 1)
            assert row is not None
            row.name = "b"
            with statements(engine) as seen:
                session.commit()
            assert not any(_returns(sql) for sql in seen), seen
            assert _touching(seen, "lak_returning_stamped") == ["UPDATE", "SELECT"], seen
            assert "stamp" not in row.__dict__, "expired by the flush, as SQLAlchemy does"
    finally:
        ReturningBase.metadata.drop_all(engine)


def test_a_failed_flush_leaves_no_expectation(sync_env: Env) -> None:
    """A flush that raised after an UPDATE was extended: the next transaction's statements are left alone."""
    ids = scenarios.seed(sync_env)
    with sync_env.bound(sync_env.make_cache())() as session:
        held = session.get(Project, ids["p2"])
        assert held is not None
        held.name = "p2-renamed"
        session.add(Project(id=ids["p1"], name="dup", tenant=1))  # the INSERT fails after the UPDATE
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        connection = session.connection()
        assert not [key for key in connection.info if "partition_returning" in str(key)]
        held = session.get(Project, ids["p2"])
        assert held is not None
        held.name = "p2-again"
        session.commit()
    assert scenarios.projects(sync_env, sync_env.make_cache(), 1) == ["p1", "p2-again"]


def _renamed_to_expression(env: Env, factory: Any) -> tuple[bool, list[Any]]:
    """Whether a name set to a SQL expression is expired after the flush, and what ``refresh_flush`` reported."""
    ids = scenarios.seed(env)
    refreshed: list[Any] = []

    def on_refresh(target: Any, context: Any, attrs: Any) -> None:
        del target, context
        refreshed.append(attrs)

    event.listen(Project, "refresh_flush", on_refresh)
    try:
        with factory() as session:
            held = session.get(Project, ids["p1"])
            assert held is not None
            held.name = func.upper(Project.name)
            session.flush()
            expired = "name" in inspect(held).unloaded
            session.rollback()
    finally:
        event.remove(Project, "refresh_flush", on_refresh)
    return expired, refreshed


def test_a_column_set_to_a_sql_expression_is_expired_as_without_the_kit(sync_env: Env) -> None:
    """SQLAlchemy expires a column its UPDATE set to SQL: a RETURNING of the kit's must not set it instead."""
    plain = _renamed_to_expression(sync_env, sync_env.sessionmaker)
    bound = _renamed_to_expression(sync_env, sync_env.bound(sync_env.make_cache()))
    assert plain == (True, [])
    assert bound == plain


class VirtualBase(DeclarativeBase):
    """A model over a table the database holds as something other than a plain table."""


class Doc(VirtualBase):
    """Tenant-owned rows of an SQLite FTS5 virtual table, or of a PostgreSQL view updated through a rule."""

    __tablename__ = "lak_returning_doc"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[int] = tenant_column()
    body: Mapped[str] = mapped_column(String(40))


class DocRepository(CachedSyncRepository[Doc]):
    """The documents, cached."""

    model_type = Doc


_NOT_PLAIN = {
    "sqlite": (
        ["CREATE VIRTUAL TABLE lak_returning_doc USING fts5(id UNINDEXED, tenant UNINDEXED, body)"],
        ["DROP TABLE IF EXISTS lak_returning_doc"],
    ),
    "psycopg_sync": (
        [
            "CREATE TABLE lak_returning_docbase (id int PRIMARY KEY, tenant int NOT NULL, body text NOT NULL)",
            "CREATE VIEW lak_returning_doc AS SELECT id, tenant, body FROM lak_returning_docbase WHERE id > 0",
            (
                "CREATE RULE lak_returning_doc_update AS ON UPDATE TO lak_returning_doc DO INSTEAD"
                " UPDATE lak_returning_docbase SET body = NEW.body WHERE id = OLD.id"
            ),
            (
                "CREATE RULE lak_returning_doc_insert AS ON INSERT TO lak_returning_doc DO INSTEAD"
                " INSERT INTO lak_returning_docbase VALUES (NEW.id, NEW.tenant, NEW.body)"
            ),
        ],
        ["DROP VIEW IF EXISTS lak_returning_doc", "DROP TABLE IF EXISTS lak_returning_docbase"],
    ),
}


def test_a_relation_that_refuses_returning_is_read(sync_env: Env) -> None:
    """An SQLite virtual table and a PostgreSQL view with rules refuse ``UPDATE ... RETURNING``: updated as without
    the kit, the row read after its UPDATE, and its partition's cached list invalidated."""
    if sync_env.engine not in _NOT_PLAIN:
        pytest.skip("SQLite's virtual tables and PostgreSQL's rules")
    create, drop = _NOT_PLAIN[sync_env.engine]
    engine = sync_env.engine_object
    with engine.begin() as conn:
        for sql in (*drop, *create):
            conn.exec_driver_sql(sql)
    try:
        cache = sync_env.make_cache()
        with sync_env.bound(cache)() as session:
            session.add(Doc(id=1, tenant=1, body="a"))
            session.commit()
        with sync_env.sessionmaker() as session:
            assert [doc.body for doc in DocRepository(session=session, cache=cache).get_many(Doc.tenant == 1)] == ["a"]
        with sync_env.bound(cache)() as session:
            doc = session.get(Doc, 1)
            assert doc is not None
            doc.body = "b"
            with statements(engine) as seen:
                session.commit()
        assert not any(_returns(sql) for sql in seen), seen
        with sync_env.sessionmaker() as session:
            assert [doc.body for doc in DocRepository(session=session, cache=cache).get_many(Doc.tenant == 1)] == ["b"]
    finally:
        with engine.begin() as conn:
            for sql in drop:
                conn.exec_driver_sql(sql)
