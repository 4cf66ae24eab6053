"""Writing functions in less obvious places (invariants 1 and 4): overloads, the flush's own values, views, defaults.

Found by review 9. For the view and the column ``DEFAULT`` the SQL sent names neither the function nor, for a
view, anything it writes: the reflected view definition and column default tell (``functions.hidden_calls``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit import reflect_dependencies
from litestar_alchemy_kit.orm import cascades
from litestar_alchemy_kit.repository import CachedSyncRepository
from tests.conftest import _engine_params
from tests.integration.repository.conftest import Env
from tests.integration.repository.test_function_writes import FwBase, _cached_stock, _stock

pytestmark = [
    pytest.mark.parametrize("cache_store", ["memory_store"], indirect=True),
    pytest.mark.parametrize("sync_engine", _engine_params(("psycopg_sync",)), indirect=True),
]


class ViewBase(DeclarativeBase):
    """Never created: the view is made by SQL."""


class HiddenBase(DeclarativeBase):
    """Created by the fixture."""


class HiddenRow(HiddenBase):
    __tablename__ = "lak_fnh_row"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int]


class FwView(ViewBase):
    __tablename__ = "lak_fnh_view"
    id: Mapped[int] = mapped_column(primary_key=True)
    b: Mapped[int]


BUMP_BODY = (
    "LANGUAGE plpgsql AS $$ BEGIN UPDATE lak_fnw_stock SET stock = stock + 1 WHERE id = iid; "
    "RETURN (SELECT stock FROM lak_fnw_stock WHERE id = iid); END $$"
)


def _drop(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP VIEW IF EXISTS lak_fnh_view"))
        conn.execute(text("DROP TABLE IF EXISTS lak_fnh_order"))
        conn.execute(text("DROP FUNCTION IF EXISTS lak_fnh_ov(INTEGER)"))
        conn.execute(text("DROP FUNCTION IF EXISTS lak_fnh_ov(TEXT)"))
        conn.execute(text("DROP FUNCTION IF EXISTS lak_fnh_bump(INTEGER)"))
        conn.execute(text("DROP TABLE IF EXISTS lak_fnh_row"))
        conn.execute(text("DROP TABLE IF EXISTS lak_fnw_item"))
        conn.execute(text("DROP TABLE IF EXISTS lak_fnw_stock"))


@pytest.fixture
def env(sync_env: Env) -> Iterator[Env]:
    engine: Engine = sync_env.engine_object
    _drop(engine)
    with engine.begin() as conn:
        FwBase.metadata.create_all(conn)
        HiddenBase.metadata.create_all(conn)
        conn.execute(text("INSERT INTO lak_fnh_row (id, n) VALUES (1, 0)"))
        conn.execute(text("INSERT INTO lak_fnw_stock (id, stock) VALUES (1, 1)"))
        conn.execute(text("INSERT INTO lak_fnw_item (id, name) VALUES (1, 'ann')"))
        conn.execute(text(f"CREATE FUNCTION lak_fnh_bump(iid INTEGER) RETURNS INTEGER {BUMP_BODY}"))
        # a writing overload first, then a pure one with the same name
        conn.execute(text(f"CREATE FUNCTION lak_fnh_ov(iid INTEGER) RETURNS INTEGER {BUMP_BODY}"))
        conn.execute(text("CREATE FUNCTION lak_fnh_ov(t TEXT) RETURNS INTEGER LANGUAGE sql AS $$ SELECT 0 $$"))
        conn.execute(text("CREATE VIEW lak_fnh_view AS SELECT id, lak_fnh_bump(id) AS b FROM lak_fnw_item"))
        conn.execute(
            text("CREATE TABLE lak_fnh_order (id INTEGER PRIMARY KEY, ticket INTEGER DEFAULT lak_fnh_bump(1))")
        )
    cascades.forget_dependencies()
    with engine.connect() as conn:
        reflect_dependencies(conn)
    yield sync_env
    cascades.forget_dependencies()
    _drop(engine)


def test_overloaded_writer_is_a_write(env: Env) -> None:
    cache = env.make_cache()
    before = _cached_stock(env, cache)
    with env.bound(cache)() as session:
        session.execute(select(func.lak_fnh_ov(1)))
        session.commit()
    with env.sessionmaker() as session:
        assert _stock(session, cache) == before + 1, "stale: the writing overload's write was not invalidated"


def test_view_calling_a_writer(env: Env) -> None:
    cache = env.make_cache()
    before = _cached_stock(env, cache)
    repo = type("ViewRepo", (CachedSyncRepository,), {"model_type": FwView})
    seen = []
    for _ in range(2):
        with env.bound(cache)() as session:
            seen.append(repo(session=session, cache=cache).get_many()[0].b)
            session.commit()
    with env.sessionmaker() as session:
        fresh = session.execute(text("SELECT stock FROM lak_fnw_stock")).scalar_one()
        cached = _stock(session, cache)
    assert seen == [before + 1, before + 2], "the second view read was served from the cache: its write skipped"
    assert cached == fresh, "stale: the view's write was not invalidated"


def test_default_calling_a_writer(env: Env) -> None:
    cache = env.make_cache()
    before = _cached_stock(env, cache)
    with env.bound(cache)() as session:
        session.execute(text("INSERT INTO lak_fnh_order (id) VALUES (1)"))
        session.commit()
    with env.sessionmaker() as session:
        fresh = session.execute(text("SELECT stock FROM lak_fnw_stock")).scalar_one()
        cached = _stock(session, cache)
    assert cached == fresh == before + 1, "stale: the DEFAULT's write was not invalidated"


@pytest.mark.parametrize("how", ["update", "insert"])
def test_flush_value_calling_a_writer(env: Env, how: str) -> None:
    """The flush's own UPDATE / INSERT sets a column to a call of a writing function."""
    cache = env.make_cache()
    before = _cached_stock(env, cache)
    with env.bound(cache)() as session:
        if how == "update":
            row = session.get(HiddenRow, 1)
            row.n = func.lak_fnh_bump(1)
        else:
            session.add(HiddenRow(id=2, n=func.lak_fnh_bump(1)))
        session.commit()
    with env.sessionmaker() as session:
        fresh = session.execute(text("SELECT stock FROM lak_fnw_stock")).scalar_one()
        cached = _stock(session, cache)
    assert cached == fresh == before + 1, "stale: the function's write in the flush's statement was not invalidated"


def test_control_plain_call_of_the_same_writer(env: Env) -> None:
    """Control: SELECT lak_fnh_bump(1) (not overloaded, in a plain SELECT) is invalidated."""
    cache = env.make_cache()
    before = _cached_stock(env, cache)
    with env.bound(cache)() as session:
        session.execute(select(func.lak_fnh_bump(1)))
        session.commit()
    with env.sessionmaker() as session:
        assert _stock(session, cache) == before + 1


def test_extension_function_in_a_default_is_no_write_of_everything(env: Env) -> None:
    """``DEFAULT uuid_generate_v4()`` (uuid-ossp, a C function in the reflected schema): an insert writes its own table,
    not the whole namespace (an extension's compiled functions are trusted to write no table of the application)."""
    engine: Engine = env.engine_object
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'uuid-ossp'")).first() is None:
            pytest.skip("this PostgreSQL server has no uuid-ossp extension (Debian: postgresql-contrib)")
        installed = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'uuid-ossp'")).first() is not None
        if not installed:
            conn.execute(text('CREATE EXTENSION "uuid-ossp" SCHEMA public'))
        conn.execute(text("DROP TABLE IF EXISTS lak_fnh_uuid"))
        conn.execute(text("CREATE TABLE lak_fnh_uuid (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), n INTEGER)"))
    try:
        with engine.connect() as conn:
            reflect_dependencies(conn)
        cache = env.make_cache()
        before = _cached_stock(env, cache)
        with env.bound(cache)() as session:
            session.execute(text("INSERT INTO lak_fnh_uuid (n) VALUES (1)"))
            session.commit()
        hits = cache.stats["hit"]
        with env.sessionmaker() as session:
            assert _stock(session, cache) == before
        assert cache.stats["hit"] == hits + 1, "an insert running uuid_generate_v4() invalidated an unrelated table"
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS lak_fnh_uuid"))
            if not installed:
                conn.execute(text('DROP EXTENSION IF EXISTS "uuid-ossp"'))
