"""Database functions whose bodies write (invariants 1, 2 and 4): a call is a write, never a cached read.

``SELECT lak_fnw_bump(1)`` updates ``lak_fnw_stock``: committed, a cached read of the stock is fresh; rolled
back, the cache is as it was; and a cached read calling the function runs it every time. The function is
reflected from the database (PostgreSQL's ``plpgsql`` and ``sql`` functions, MariaDB's stored functions)
or declared (SQLite's are Python callables the database cannot show, here writing through the calling
connection). One engine per database family, on the in-process store and Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from sqlalchemy import Engine, String, event, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, query_expression, with_expression

from litestar_alchemy_kit import declare_function, reflect_dependencies
from litestar_alchemy_kit.orm import cascades
from litestar_alchemy_kit.repository import CachedSyncRepository
from tests.conftest import _engine_params
from tests.integration.repository.conftest import Env

ENGINES = _engine_params(("sqlite", "psycopg_sync", "pymysql"))
STORES = [
    pytest.param(name, id=name, marks=[getattr(pytest.mark, name), pytest.mark.integration])
    for name in ("memory_store", "redis_store")
]
pytestmark = pytest.mark.parametrize("cache_store", STORES, indirect=True)


class FwBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class FwStock(FwBase):
    """What the function writes."""

    __tablename__ = "lak_fnw_stock"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    stock: Mapped[int]


class FwItem(FwBase):
    """What a read calling the function reads (MySQL refuses a function writing a table its caller reads)."""

    __tablename__ = "lak_fnw_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    bumped: Mapped[int | None] = query_expression()


BUMP = "UPDATE lak_fnw_stock SET stock = stock + 1 WHERE id = {arg}"
STOCK = "SELECT stock FROM lak_fnw_stock WHERE id = {arg}"
FUNCTIONS = {
    "postgresql": [
        (
            "CREATE FUNCTION lak_fnw_bump(iid INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$ BEGIN "
            f"{BUMP.format(arg='iid')}; RETURN ({STOCK.format(arg='iid')}); END $$"
        ),
        (
            "CREATE FUNCTION lak_fnw_bump_sql(iid INTEGER) RETURNS INTEGER LANGUAGE sql AS "
            f"$$ {BUMP.format(arg='iid')} RETURNING stock $$"
        ),
        "CREATE FUNCTION lak_fnw_outer(iid INTEGER) RETURNS INTEGER LANGUAGE sql AS $$ SELECT lak_fnw_bump(iid) $$",
        # dynamic SQL in a VOLATILE function: it may write any table
        (
            "CREATE FUNCTION lak_fnw_dyn(iid INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$ BEGIN "
            "EXECUTE 'UPDATE lak_fnw_' || 'stock SET stock = stock + 1 WHERE id = $1' USING iid; RETURN 0; END $$"
        ),
    ],
    "mysql": [
        (
            "CREATE FUNCTION lak_fnw_bump(iid INTEGER) RETURNS INTEGER MODIFIES SQL DATA BEGIN "
            f"{BUMP.format(arg='iid')}; RETURN ({STOCK.format(arg='iid')}); END"
        ),
        "CREATE FUNCTION lak_fnw_outer(iid INTEGER) RETURNS INTEGER MODIFIES SQL DATA RETURN lak_fnw_bump(iid)",
    ],
}
NAMES = ("lak_fnw_outer", "lak_fnw_bump", "lak_fnw_bump_sql", "lak_fnw_dyn")


def _sqlite_functions(dbapi_connection: Any, record: Any) -> None:
    """SQLite's function writes through the connection calling it: in its transaction, committed or rolled back with it."""
    del record

    def bump(iid: int) -> int:
        dbapi_connection.execute(BUMP.format(arg="?"), (iid,))
        return int(dbapi_connection.execute(STOCK.format(arg="?"), (iid,)).fetchone()[0])

    dbapi_connection.create_function("lak_fnw_bump", 1, bump)
    dbapi_connection.create_function("lak_fnw_outer", 1, bump)


@pytest.fixture
def fnw(sync_env: Env) -> Iterator[Env]:
    engine: Engine = sync_env.engine_object
    dialect = "mysql" if engine.dialect.name in {"mysql", "mariadb"} else engine.dialect.name
    if dialect == "sqlite":
        event.listen(engine, "connect", _sqlite_functions)
        engine.dispose()  # connections made before have no functions
    _drop(engine)
    with engine.begin() as conn:
        FwBase.metadata.create_all(conn)
        for statement in FUNCTIONS.get(dialect, ()):
            conn.execute(text(statement))
        conn.execute(text("INSERT INTO lak_fnw_stock (id, stock) VALUES (1, 1)"))
        conn.execute(text("INSERT INTO lak_fnw_item (id, name) VALUES (1, 'ann')"))
    cascades.forget_dependencies()
    if dialect == "sqlite":
        declare_function("lak_fnw_bump", writes=[FwStock.__table__])  # type: ignore[list-item]
        declare_function("lak_fnw_outer", calls=["lak_fnw_bump"])
    else:
        with engine.connect() as conn:
            reflect_dependencies(conn)
    yield sync_env
    cascades.forget_dependencies()  # what this test declared or reflected must not help the next one
    _drop(engine)
    if dialect == "sqlite":
        event.remove(engine, "connect", _sqlite_functions)


def _drop(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name != "sqlite":
            for name in NAMES:
                conn.execute(text(f"DROP FUNCTION IF EXISTS {name}"))
        for table in ("lak_fnw_item", "lak_fnw_stock"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def _repo(model: type[Any], session: Any, cache: Any, statement: Any = None) -> Any:
    repository = type(f"{model.__name__}Repository", (CachedSyncRepository,), {"model_type": model})
    return repository(session=session, cache=cache, statement=statement)


def _stock(session: Any, cache: Any) -> int:
    return int(_repo(FwStock, session, cache).get_many()[0].stock)


def _cached_stock(env: Env, cache: Any) -> int:
    """The stock read twice: the second read must be a cache hit."""
    with env.sessionmaker() as session:
        stock = _stock(session, cache)
    hits = cache.stats["hit"]
    with env.sessionmaker() as session:
        assert _stock(session, cache) == stock
    assert cache.stats["hit"] == hits + 1, "the second identical read must be a cache hit"
    return stock


def _call(function: str, spelling: str) -> Any:
    if spelling == "select":
        return select(getattr(func, function)(1))
    return text(f"SELECT {function}(:iid)").bindparams(iid=1)


@pytest.mark.parametrize("sync_engine", ENGINES, indirect=True)
@pytest.mark.parametrize("spelling", ["select", "text"])
def test_a_committed_call_invalidates_what_the_function_writes(fnw: Env, spelling: str) -> None:
    """A nested function (lak_fnw_outer calls lak_fnw_bump) writes what it calls writes."""
    cache = fnw.make_cache()
    before = _cached_stock(fnw, cache)
    for function in ("lak_fnw_bump", "lak_fnw_outer"):
        with fnw.bound(cache)() as session:
            session.execute(_call(function, spelling))
            session.commit()
        with fnw.sessionmaker() as session:
            assert _stock(session, cache) == before + 1, function
        before = _cached_stock(fnw, cache)


@pytest.mark.parametrize("sync_engine", ENGINES, indirect=True)
def test_a_rolled_back_call_leaves_the_cache_as_it_was(fnw: Env) -> None:
    cache = fnw.make_cache()
    before = _cached_stock(fnw, cache)
    with fnw.bound(cache)() as session:
        session.execute(_call("lak_fnw_bump", "select"))
        # the session sees its uncommitted write: its own read neither serves nor populates the entry (invariant 2)
        assert _stock(session, cache) == before + 1
        session.rollback()
    hits = cache.stats["hit"]
    with fnw.sessionmaker() as session:
        assert _stock(session, cache) == before
    assert cache.stats["hit"] == hits + 1, "the entry from before the call must still be served"


@pytest.mark.parametrize("sync_engine", ENGINES, indirect=True)
def test_a_read_calling_a_writing_function_runs_it_every_time(fnw: Env) -> None:
    cache = fnw.make_cache()
    statement = select(FwItem).options(with_expression(FwItem.bumped, func.lak_fnw_bump(FwItem.id)))
    seen = []
    for _ in range(2):
        with fnw.bound(cache)() as session:
            seen.append(_repo(FwItem, session, cache, statement).get_many()[0].bumped)
            session.commit()
    assert seen == [2, 3]
    assert cache.stats["hit"] == 0
    assert cache.stats["bypass"] == 2


@pytest.mark.parametrize("sync_engine", _engine_params(("psycopg_sync",)), indirect=True)
@pytest.mark.parametrize("function", ["lak_fnw_bump_sql", "lak_fnw_dyn"])
def test_postgresql_sql_and_unanalysable_functions(fnw: Env, function: str) -> None:
    """An ``sql`` function's UPDATE (sqlglot), and dynamic SQL in a VOLATILE one (may write any table)."""
    cache = fnw.make_cache()
    before = _cached_stock(fnw, cache)
    with fnw.bound(cache)() as session:
        session.execute(_call(function, "select"))
        session.commit()
    with fnw.sessionmaker() as session:
        assert _stock(session, cache) == before + 1
