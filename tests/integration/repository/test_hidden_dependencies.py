"""Dependencies the model metadata does not show: views, cascades from another MetaData, triggers.

Each is discovered (reflected from the database, or found in another registry's metadata, also when
declared there after the writes began) or declared (:func:`view_of`, :func:`declare_dependency`);
every scenario fails without it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from sqlalchemy import Column, Engine, ForeignKey, Integer, String, Table, delete, event, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit import declare_dependency, declare_function, reflect_dependencies, view_of
from litestar_alchemy_kit.orm import cascades
from litestar_alchemy_kit.repository import CachedSyncRepository
from tests.integration.repository.conftest import Env

SQL_ENGINES = {"sqlite", "psycopg_sync", "pymysql"}


class HiddenBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class OtherBase(CommonTableAttributes, DeclarativeBase):
    """Another registry: its tables live in another MetaData."""

    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Account(HiddenBase):
    __tablename__ = "lak_hid_account"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)


class ActiveAccount(HiddenBase):
    """Mapped onto a view over ``lak_hid_account``, declared."""

    __tablename__ = "lak_hid_active"
    __table_args__ = {"info": view_of("lak_hid_account")}  # noqa: RUF012
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class ReflectedActive(HiddenBase):
    """Mapped onto the same kind of view, nothing declared: reflection must find its base table."""

    __tablename__ = "lak_hid_active_r"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class Parent(HiddenBase):
    __tablename__ = "lak_hid_parent"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


# The parent as the other registry knows it (a stub, as reflection or a shared module would give):
# the child's foreign key resolves within its own MetaData.
Table("lak_hid_parent", OtherBase.metadata, Column("id", Integer, primary_key=True))


class Child(OtherBase):
    """In another registry; its foreign key cascades from ``lak_hid_parent``."""

    __tablename__ = "lak_hid_child"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    parent_id: Mapped[int] = mapped_column(ForeignKey("lak_hid_parent.id", ondelete="CASCADE"))


class Orphan(OtherBase):
    """Its ``ON DELETE SET NULL`` exists only in the database (the model does not declare it)."""

    __tablename__ = "lak_hid_orphan"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    parent_id: Mapped[int | None]


class Audit(HiddenBase):
    """Written by a trigger on ``lak_hid_account``: only a declaration can tell."""

    __tablename__ = "lak_hid_audit"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)


def _repo(model: type[Any]) -> type[Any]:
    return type(f"{model.__name__}Repository", (CachedSyncRepository,), {"model_type": model})


VIEW_SQL = "CREATE VIEW {name} AS SELECT id, name FROM lak_hid_account WHERE active = {true}"


@contextlib.contextmanager
def hidden_tables(sync_env: Env) -> Iterator[Env]:
    """The accounts, parents, children, audit table and views on ``sync_env``'s database, dropped after."""
    if sync_env.engine not in SQL_ENGINES:
        pytest.skip(f"{sync_env.engine}: views, foreign keys and triggers are tested on SQLite, PostgreSQL, MariaDB")
    engine: Engine = sync_env.engine_object
    if engine.dialect.name == "sqlite":  # SQLite enforces foreign keys (and cascades) only when asked
        event.listen(engine.pool, "checkout", _sqlite_foreign_keys)
    _drop(engine)
    true = "1" if engine.dialect.name != "postgresql" else "true"
    with engine.begin() as conn:
        for table in (Account, Parent, Audit):
            table.__table__.create(conn)  # type: ignore[attr-defined]
        Child.__table__.create(conn)  # type: ignore[attr-defined]
        conn.execute(
            text(
                "CREATE TABLE lak_hid_orphan (id INTEGER PRIMARY KEY, parent_id INTEGER, "
                "FOREIGN KEY (parent_id) REFERENCES lak_hid_parent (id) ON DELETE SET NULL)"
            )
        )
        for name in ("lak_hid_active", "lak_hid_active_r"):
            conn.execute(text(VIEW_SQL.format(name=name, true=true)))
    yield sync_env
    _drop(engine)
    cascades.forget_dependencies()  # what this test reflected must not help the next one
    if engine.dialect.name == "sqlite":
        event.remove(engine.pool, "checkout", _sqlite_foreign_keys)


def _sqlite_foreign_keys(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    del record, proxy
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def _drop(engine: Engine) -> None:
    with engine.begin() as conn:
        for view in ("lak_hid_active", "lak_hid_active_r"):
            conn.execute(text(f"DROP VIEW IF EXISTS {view}"))
        for table in ("lak_hid_orphan", "lak_hid_child", "lak_hid_audit", "lak_hid_parent", "lak_hid_account"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def _warm(env: Env, cache: Any, model: type[Any], read: str = "names") -> Any:
    with env.sessionmaker() as session:
        repo = _repo(model)(session=session, cache=cache)

        def value() -> Any:
            if read == "count":
                return repo.count()
            return sorted(row.name for row in repo.get_many())

        first = value()
        hits = cache.stats["hit"]
        assert value() == first
        assert cache.stats["hit"] == hits + 1, "the second identical read must be a cache hit"
        return first


def _fresh(env: Env, cache: Any, model: type[Any], read: str = "names") -> Any:
    with env.sessionmaker() as session:
        repo = _repo(model)(session=session, cache=cache)
        return repo.count() if read == "count" else sorted(row.name for row in repo.get_many())


def _hit_after(env: Env, cache: Any, model: type[Any], read: str, expected: Any) -> bool:
    """Read ``model`` fresh: whether it was a cache hit (and it returned ``expected``)."""
    hits = cache.stats["hit"]
    assert _fresh(env, cache, model, read) == expected
    return bool(cache.stats["hit"] == hits + 1)


@pytest.mark.parametrize("model", [ActiveAccount, ReflectedActive], ids=["declared", "reflected"])
def test_view_reads_follow_base_table_commits(hidden: Env, model: type[Any]) -> None:
    cache = hidden.make_cache()
    if model is ReflectedActive:
        with hidden.engine_object.connect() as conn:
            assert reflect_dependencies(conn) > 0
    with hidden.bound(cache)() as session:
        session.add_all([Account(id=1, name="ann"), Account(id=2, name="bob")])
        session.commit()
    assert _warm(hidden, cache, model) == ["ann", "bob"]
    with hidden.bound(cache)() as session:
        session.get_one(Account, 2).active = False
        session.commit()
    assert _fresh(hidden, cache, model) == ["ann"]


@pytest.mark.parametrize("child", [Child, Orphan], ids=["other_metadata", "reflected_set_null"])
def test_cascades_from_another_metadata(hidden: Env, child: type[Any]) -> None:
    cache = hidden.make_cache()
    if child is Orphan:
        with hidden.engine_object.connect() as conn:
            reflect_dependencies(conn)
    with hidden.bound(cache)() as session:
        session.add(Parent(id=1))
        session.flush()
        session.add_all([child(id=1, parent_id=1), child(id=2, parent_id=1)])
        session.commit()
    column = child.parent_id  # type: ignore[attr-defined]
    with_parent = select(func.count()).select_from(child).where(column == 1)

    def counted(session: Any) -> int:
        return int(_repo(child)(session=session, cache=cache).count(column == 1))

    with hidden.sessionmaker() as session:
        assert counted(session) == 2
        assert counted(session) == 2
    with hidden.bound(cache)() as session:
        session.delete(session.get_one(Parent, 1))
        session.flush()  # the database cascades now; the flushed count must never be published
        assert counted(session) == session.execute(with_parent).scalar_one() == 0
        session.rollback()
    with hidden.sessionmaker() as session:
        assert counted(session) == 2  # the rollback left the cache as it was
    with hidden.bound(cache)() as session:
        session.delete(session.get_one(Parent, 1))
        session.commit()
    with hidden.sessionmaker() as session:
        assert counted(session) == 0


def _create_trigger(engine: Engine, *, dynamic: bool = False) -> None:
    """``lak_hid_trg``: every account insert writes ``lak_hid_audit`` (PostgreSQL ``dynamic``: through ``EXECUTE``)."""
    name = engine.dialect.name
    with engine.begin() as conn:
        if name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER lak_hid_trg AFTER INSERT ON lak_hid_account "
                    "BEGIN INSERT INTO lak_hid_audit (id) VALUES (NEW.name); END"
                )
            )
        elif name == "postgresql":
            write = (
                "EXECUTE format('INSERT INTO %I (id) VALUES ($1)', 'lak_hid_' || 'audit') USING NEW.name;"
                if dynamic
                else "INSERT INTO lak_hid_audit (id) VALUES (NEW.name);"
            )
            conn.execute(
                text(
                    f"CREATE OR REPLACE FUNCTION lak_hid_fn() RETURNS trigger AS $$ BEGIN {write} "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER lak_hid_trg AFTER INSERT ON lak_hid_account "
                    "FOR EACH ROW EXECUTE FUNCTION lak_hid_fn()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER lak_hid_trg AFTER INSERT ON lak_hid_account "
                    "FOR EACH ROW BEGIN INSERT INTO lak_hid_audit (id) VALUES (NEW.name); END"
                )
            )


def _drop_trigger(engine: Engine) -> None:
    cascades.forget_dependencies()  # this test's declarations and reflections only
    with engine.begin() as conn:
        suffix = " ON lak_hid_account" if engine.dialect.name == "postgresql" else ""
        conn.execute(text(f"DROP TRIGGER IF EXISTS lak_hid_trg{suffix}"))


def _insert_account(session: Any, form: str) -> None:
    name = uuid.uuid4().hex[:8]
    if form == "flush":
        session.add(Account(id=3, name=name))
    elif form == "core":
        session.execute(Account.__table__.insert().values(id=3, name=name, active=True))  # type: ignore[attr-defined]
    else:
        session.execute(
            text("INSERT INTO lak_hid_account (id, name, active) VALUES (3, :name, :active)"),
            {"name": name, "active": True},
        )


def test_declared_trigger_dependency(hidden: Env) -> None:
    """A trigger writes ``lak_hid_audit`` on every account insert: declared, it invalidates."""
    _create_trigger(hidden.engine_object)
    declare_dependency(Account.__table__, Audit.__table__)  # type: ignore[arg-type]
    try:
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            _insert_account(session, "flush")
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1
    finally:
        _drop_trigger(hidden.engine_object)


@pytest.mark.parametrize("form", ["flush", "core", "text"])
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_reflected_trigger_invalidates(hidden: Env, form: str, dynamic: bool) -> None:
    """The same trigger, reflected instead of declared: a write to the account table invalidates the audit table.

    Dynamic (PostgreSQL's ``EXECUTE``): what the trigger writes cannot be told, so the write invalidates everything.
    """
    if dynamic and hidden.engine_object.dialect.name != "postgresql":
        pytest.skip("dynamic SQL in a trigger: PostgreSQL")
    _create_trigger(hidden.engine_object, dynamic=dynamic)
    try:
        with hidden.engine_object.connect() as conn:
            assert reflect_dependencies(conn) > 0
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            _insert_account(session, form)
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the trigger's write was not invalidated"
    finally:
        _drop_trigger(hidden.engine_object)


def test_reflected_trigger_leaves_other_tables_cached(hidden: Env) -> None:
    """Control: a write to a table without triggers still leaves the audit table's entries (no over-reach)."""
    _create_trigger(hidden.engine_object)
    try:
        with hidden.engine_object.connect() as conn:
            reflect_dependencies(conn)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.add(Parent(id=9))
            session.commit()
        hits = cache.stats["hit"]
        assert _fresh(hidden, cache, Audit, "count") == 0
        assert cache.stats["hit"] == hits + 1, "a write to a table with no trigger invalidated the audit table"
    finally:
        _drop_trigger(hidden.engine_object)


def _postgresql(env: Env) -> Engine:
    engine: Engine = env.engine_object
    if engine.dialect.name != "postgresql":
        pytest.skip("trigger functions: PostgreSQL")
    return engine


def test_reflected_trigger_function_of_another_schema(hidden: Env) -> None:
    """The trigger's function lives in another schema, which reflection of this one does not list: still learnt."""
    engine = _postgresql(hidden)
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS lak_hid_other"))
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION lak_hid_other.lak_hid_fn2() RETURNS trigger AS $$ BEGIN "
                "INSERT INTO public.lak_hid_audit (id) VALUES (NEW.name); RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER lak_hid_trg AFTER INSERT ON lak_hid_account "
                "FOR EACH ROW EXECUTE FUNCTION lak_hid_other.lak_hid_fn2()"
            )
        )
    try:
        with engine.connect() as conn:
            reflect_dependencies(conn)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            _insert_account(session, "flush")
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the trigger's write was not invalidated"
    finally:
        _drop_trigger(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA lak_hid_other CASCADE"))


@pytest.mark.parametrize("trigger", ["builtin", "declared"])
def test_trigger_known_not_to_write_elsewhere_leaves_other_tables_cached(hidden: Env, trigger: str) -> None:
    """PostgreSQL's own trigger functions (``pg_catalog``) write no table, and a declaration overrides reflection
    (a dynamic body, declared to write the audit table only): an account insert leaves the parents' entries."""
    engine = _postgresql(hidden)
    if trigger == "builtin":
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO lak_hid_account (id, name, active) VALUES (3, 'ann', true)"))
            conn.execute(
                text(
                    "CREATE TRIGGER lak_hid_trg BEFORE UPDATE ON lak_hid_account "
                    "FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"
                )
            )
    else:
        _create_trigger(engine, dynamic=True)
    try:
        with engine.connect() as conn:
            reflect_dependencies(conn)
        if trigger == "declared":
            declare_function("lak_hid_fn", writes=[Audit.__table__])  # type: ignore[list-item]
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Parent, "count") == 0
        with hidden.bound(cache)() as session:
            if trigger == "builtin":
                session.get_one(Account, 3).name = "bob"
            else:
                _insert_account(session, "flush")
            session.commit()
        hits = cache.stats["hit"]
        assert _fresh(hidden, cache, Parent, "count") == 0
        assert cache.stats["hit"] == hits + 1, f"{trigger}: the account insert invalidated an unrelated table"
    finally:
        _drop_trigger(engine)


_LATE_REGISTRIES: list[Any] = []  # kept alive: a registry collected mid-test would change the graph's state


def _late_base() -> tuple[type[Any], type[Any]]:
    """A registry of its own per run (the late table is declared into it) and its parent model."""

    class LateBase(CommonTableAttributes, DeclarativeBase):
        registry = create_registry()
        metadata = registry.metadata
        __abstract__ = True

    class LateParent(LateBase):
        __tablename__ = "lak_hid_late_parent"
        id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    _LATE_REGISTRIES.append(LateBase.registry)
    return LateBase, LateParent


def _late_delete(factory: Any, parent: type[Any], form: str) -> None:
    """Delete every parent: the same statement (or the same mapper's flush) each time, so its writes are memoized."""
    with factory() as session:
        if form == "construct":
            session.execute(delete(parent))
        elif form == "text":
            session.execute(text("DELETE FROM lak_hid_late_parent"))
        else:
            for row in session.scalars(select(parent)):
                session.delete(row)
        session.commit()


@pytest.mark.parametrize("form", ["construct", "text", "flush"])
def test_a_table_declared_later_in_a_known_metadata_counts(hidden: Env, form: str) -> None:
    """A model declared after writes to its parent began (a module imported later): its cascade counts at once.

    The first delete memoizes what a write to the parent changes; declaring the child in the same
    ``MetaData`` adds a cascading foreign key that neither a declaration nor a new registry announces.
    A flushed delete's own session must not read the child's cached rows either.
    """
    base, parent = _late_base()
    engine: Engine = hidden.engine_object
    cache = hidden.make_cache()
    factory = hidden.bound(cache)
    parent.__table__.create(engine)
    try:
        with factory() as session:
            session.add(parent(id=1))
            session.commit()
        _late_delete(factory, parent, form)  # what the statement (or the flush) writes is memoized now

        class LateChild(base):  # type: ignore[misc,valid-type]
            __tablename__ = "lak_hid_late_child"
            id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
            name: Mapped[str] = mapped_column(String(20))
            parent_id: Mapped[int] = mapped_column(ForeignKey("lak_hid_late_parent.id", ondelete="CASCADE"))

        LateChild.__table__.create(engine)
        with factory() as session:
            session.add(parent(id=2))
            session.flush()
            session.add(LateChild(id=10, name="child", parent_id=2))
            session.commit()
        assert _warm(hidden, cache, LateChild) == ["child"]
        if form == "flush":
            with factory() as session:
                session.delete(session.get_one(parent, 2))
                session.flush()  # the database cascades now: this session must not be served the cached child
                assert sorted(row.name for row in _repo(LateChild)(session=session, cache=cache).get_many()) == []
                session.commit()
        else:
            _late_delete(factory, parent, form)
        assert _fresh(hidden, cache, LateChild) == []
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS lak_hid_late_child"))
            conn.execute(text("DROP TABLE IF EXISTS lak_hid_late_parent"))
        # the graph is keyed by table name: this run's child must not stand in for the next run's
        base.registry.dispose()
        base.metadata.clear()
