"""Database functions whose bodies read tables (invariant 5): a cached read calling one follows those tables.

The function is declared (:func:`declare_function`; SQLite's are Python callables the database cannot
show) or reflected from the database's own catalog (:func:`reflect_dependencies`: PostgreSQL's
``sql`` and ``plpgsql`` functions, MariaDB's stored functions); it is called in a selected column, a
``WHERE``, a ``column_property``, a raw fragment, through another function, or by a view. Every
scenario serves the total from before the write without it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from sqlalchemy import Engine, String, event, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, query_expression, with_expression

from litestar_alchemy_kit import declare_function, reflect_dependencies
from litestar_alchemy_kit.orm import cascades
from litestar_alchemy_kit.repository import CachedSyncRepository
from tests.integration.repository.conftest import Env

SQL_ENGINES = {"sqlite", "psycopg_sync", "pymysql"}


class FnBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class FnOrder(FnBase):
    __tablename__ = "lak_fnk_order"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    customer_id: Mapped[int]
    total: Mapped[int]


class FnCustomer(FnBase):
    __tablename__ = "lak_fnk_customer"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    total: Mapped[int | None] = query_expression()


class FnCustomerCount(FnBase):
    """The same table, with a column property calling a function that reads the orders."""

    __table__ = FnCustomer.__table__
    order_count = column_property(func.lak_fnk_count(__table__.c.id))


class FnCustomerView(FnBase):
    """Mapped onto a view whose definition calls ``lak_fnk_total``."""

    __tablename__ = "lak_fnk_view"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    total: Mapped[int]


TOTAL_BODY = "SELECT COALESCE(SUM(total), 0) FROM lak_fnk_order WHERE customer_id = {arg}"
COUNT_BODY = "SELECT COUNT(*) FROM lak_fnk_order WHERE customer_id = {arg}"
FUNCTIONS = {
    "postgresql": [
        f"CREATE FUNCTION lak_fnk_total(cid INTEGER) RETURNS INTEGER LANGUAGE sql AS $$ {TOTAL_BODY.format(arg='cid')} $$",
        (
            "CREATE FUNCTION lak_fnk_count(cid INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$ BEGIN "
            f"RETURN ({COUNT_BODY.format(arg='cid')}); END $$"
        ),
        "CREATE FUNCTION lak_fnk_outer(cid INTEGER) RETURNS INTEGER LANGUAGE sql AS $$ SELECT lak_fnk_total(cid) * 2 $$",
        # dynamic SQL: the body cannot tell which tables it reads (STABLE: nor can it write; a VOLATILE one may,
        # test_function_writes.py)
        (
            "CREATE FUNCTION lak_fnk_dyn(cid INTEGER) RETURNS INTEGER LANGUAGE plpgsql STABLE AS $$ DECLARE n INTEGER; BEGIN "
            "EXECUTE 'SELECT COUNT(*) FROM lak_fnk_' || 'order WHERE customer_id = $1' INTO n USING cid; RETURN n; END $$"
        ),
        (
            "CREATE FUNCTION lak_fnk_clock(cid INTEGER) RETURNS INTEGER LANGUAGE sql AS "
            "$$ SELECT cid + EXTRACT(EPOCH FROM now())::INTEGER * 0 $$"
        ),
    ],
    "mysql": [
        (
            "CREATE FUNCTION lak_fnk_total(cid INTEGER) RETURNS INTEGER READS SQL DATA "
            f"RETURN ({TOTAL_BODY.format(arg='cid')})"
        ),
        (
            "CREATE FUNCTION lak_fnk_count(cid INTEGER) RETURNS INTEGER READS SQL DATA BEGIN DECLARE n INTEGER; "
            "SELECT COUNT(*) INTO n FROM lak_fnk_order WHERE customer_id = cid; RETURN n; END"
        ),
        "CREATE FUNCTION lak_fnk_outer(cid INTEGER) RETURNS INTEGER READS SQL DATA RETURN lak_fnk_total(cid) * 2",
    ],
}
VIEW_SQL = "CREATE VIEW lak_fnk_view AS SELECT id, name, lak_fnk_total(id) AS total FROM lak_fnk_customer"


def _repo(model: type[Any]) -> type[Any]:
    return type(f"{model.__name__}Repository", (CachedSyncRepository,), {"model_type": model})


def _sqlite_functions(path: str) -> Any:
    """Python functions reading the orders through a connection of their own (SQLite has no stored functions)."""

    def scalar(sql: str, cid: int) -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute(sql.format(arg="?"), (cid,)).fetchone()[0])

    def register(dbapi_connection: Any, record: Any) -> None:
        del record
        dbapi_connection.create_function("lak_fnk_total", 1, lambda cid: scalar(TOTAL_BODY, cid))
        dbapi_connection.create_function("lak_fnk_count", 1, lambda cid: scalar(COUNT_BODY, cid))
        dbapi_connection.create_function("lak_fnk_outer", 1, lambda cid: scalar(TOTAL_BODY, cid) * 2)

    return register


@pytest.fixture
def fns(sync_env: Env) -> Iterator[Env]:
    if sync_env.engine not in SQL_ENGINES:
        pytest.skip(f"{sync_env.engine}: functions are tested on SQLite, PostgreSQL, MariaDB")
    engine: Engine = sync_env.engine_object
    dialect = "mysql" if engine.dialect.name in {"mysql", "mariadb"} else engine.dialect.name
    listener = None
    if dialect == "sqlite":
        listener = _sqlite_functions(str(engine.url.database))
        event.listen(engine, "connect", listener)
        engine.dispose()  # connections made before have no functions
    _drop(engine)
    with engine.begin() as conn:
        FnBase.metadata.create_all(conn, tables=[FnOrder.__table__, FnCustomer.__table__])  # type: ignore[list-item]
        for statement in FUNCTIONS.get(dialect, ()):
            conn.execute(text(statement))
        conn.execute(text(VIEW_SQL))
        conn.execute(text("INSERT INTO lak_fnk_customer (id, name) VALUES (1, 'ann')"))
        conn.execute(text("INSERT INTO lak_fnk_order (id, customer_id, total) VALUES (1, 1, 5)"))
    cascades.forget_dependencies()
    yield sync_env
    cascades.forget_dependencies()  # what this test declared or reflected must not help the next one
    _drop(engine)
    if listener is not None:
        event.remove(engine, "connect", listener)


def _drop(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP VIEW IF EXISTS lak_fnk_view"))
        if engine.dialect.name != "sqlite":
            for name in ("lak_fnk_outer", "lak_fnk_total", "lak_fnk_count", "lak_fnk_dyn", "lak_fnk_clock"):
                conn.execute(text(f"DROP FUNCTION IF EXISTS {name}"))
        for table in ("lak_fnk_order", "lak_fnk_customer"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def _read(env: Env, cache: Any, model: type[Any], *filters: Any, statement: Any = None) -> list[tuple[Any, ...]]:
    with env.sessionmaker() as session:
        repo = _repo(model)(session=session, cache=cache, statement=statement)
        rows = repo.get_many(*filters)
        return sorted((row.name, getattr(row, "total", None), getattr(row, "order_count", None)) for row in rows)


def _stale_after_order(env: Env, model: type[Any], *filters: Any, statement: Any = None) -> tuple[Any, Any]:
    """Read twice (the second must hit), add an order for ann, read again: (before, after)."""
    cache = env.make_cache()
    before = _read(env, cache, model, *filters, statement=statement)
    hits = cache.stats["hit"]
    assert _read(env, cache, model, *filters, statement=statement) == before
    assert cache.stats["hit"] == hits + 1, "the second identical read must be a cache hit"
    with env.bound(cache)() as session:
        session.add(FnOrder(id=2, customer_id=1, total=7))
        session.commit()
    return before, _read(env, cache, model, *filters, statement=statement)


def _with_total(function: str) -> Any:
    return select(FnCustomer).options(with_expression(FnCustomer.total, getattr(func, function)(FnCustomer.id)))


@pytest.mark.parametrize("where", ["column", "where", "text"])
def test_declared_function(fns: Env, where: str) -> None:
    declare_function("lak_fnk_total", FnOrder.__table__)  # type: ignore[arg-type]
    if where == "column":
        before, after = _stale_after_order(fns, FnCustomer, statement=_with_total("lak_fnk_total"))
        assert (before, after) == ([("ann", 5, None)], [("ann", 12, None)])
    else:
        clause: Any = func.lak_fnk_total(FnCustomer.id) > 10
        if where == "text":  # a raw fragment the cache accepts (no SELECT in it): its calls are found by name
            clause = text("lak_fnk_total(lak_fnk_customer.id) > 10")
        before, after = _stale_after_order(fns, FnCustomer, statement=select(FnCustomer).where(clause))
        assert (before, after) == ([], [("ann", None, None)])


def test_declared_function_in_a_column_property(fns: Env) -> None:
    declare_function("LAK_FNK_COUNT", "lak_fnk_order")  # any case, as the database folds it
    assert _stale_after_order(fns, FnCustomerCount) == ([("ann", None, 1)], [("ann", None, 2)])


def test_declared_nested_function(fns: Env) -> None:
    declare_function("lak_fnk_total", "public.lak_fnk_order")
    declare_function("lak_fnk_outer", calls=["lak_fnk_total"])
    before, after = _stale_after_order(fns, FnCustomer, statement=_with_total("lak_fnk_outer"))
    assert (before, after) == ([("ann", 10, None)], [("ann", 24, None)])


def test_view_calling_a_function(fns: Env) -> None:
    """The view names only the customers: its function reads the orders (declared on SQLite, reflected elsewhere)."""
    if fns.engine_object.dialect.name == "sqlite":
        declare_function("lak_fnk_total", FnOrder.__table__)  # type: ignore[arg-type]
    with fns.engine_object.connect() as conn:
        reflect_dependencies(conn)
    assert _stale_after_order(fns, FnCustomerView) == ([("ann", 5, None)], [("ann", 12, None)])


@pytest.mark.parametrize("function", ["lak_fnk_total", "lak_fnk_count", "lak_fnk_outer"])
def test_reflected_function(fns: Env, function: str) -> None:
    """PostgreSQL's sql (total, outer) and plpgsql (count) functions, MariaDB's stored functions."""
    if fns.engine_object.dialect.name == "sqlite":
        pytest.skip("sqlite has no stored functions to reflect (declare them)")
    with fns.engine_object.connect() as conn:
        assert reflect_dependencies(conn) > 0
    before, after = _stale_after_order(fns, FnCustomer, statement=_with_total(function))
    expected = {"lak_fnk_total": (5, 12), "lak_fnk_count": (1, 2), "lak_fnk_outer": (10, 24)}[function]
    assert (before, after) == ([("ann", expected[0], None)], [("ann", expected[1], None)])


def test_reflected_column_property(fns: Env) -> None:
    if fns.engine_object.dialect.name == "sqlite":
        pytest.skip("sqlite has no stored functions to reflect (declare them)")
    with fns.engine_object.connect() as conn:
        reflect_dependencies(conn)
    assert _stale_after_order(fns, FnCustomerCount) == ([("ann", None, 1)], [("ann", None, 2)])


def test_unanalysable_function_depends_on_every_write(fns: Env) -> None:
    """Dynamic SQL in plpgsql: the function may read any table; still cached, invalidated by any write."""
    if fns.engine_object.dialect.name != "postgresql":
        pytest.skip("dynamic sql in a function body: postgresql")
    with fns.engine_object.connect() as conn:
        reflect_dependencies(conn)
    before, after = _stale_after_order(fns, FnCustomer, statement=_with_total("lak_fnk_dyn"))
    assert (before, after) == ([("ann", 1, None)], [("ann", 2, None)])


def test_function_calling_now_bypasses(fns: Env) -> None:
    if fns.engine_object.dialect.name != "postgresql":
        pytest.skip("postgresql")
    with fns.engine_object.connect() as conn:
        reflect_dependencies(conn)
    cache = fns.make_cache()
    for _ in range(2):
        _read(fns, cache, FnCustomer, statement=_with_total("lak_fnk_clock"))
    assert cache.stats["hit"] == 0
    assert cache.stats["bypass"] == 2
