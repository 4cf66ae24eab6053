"""Reads whose result depends on more than their SQL: which database an engine reaches, and settings changed in SQL.

One cache serves every database its sessions reach (the plugin binds it to every configured database), so every
key names the database (``orm.readcontext``), and a read after ``SET search_path``, ``SET ROLE``, ``set_config``,
``USE`` or ``PRAGMA case_sensitive_like`` bypasses the cache. Each test failed before (review 25): the second
database, schema, role or setting was served the first one's rows. The key does not depend on the store, so these
run on every engine over a ``MemoryStore``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from sqlalchemy import URL, String, create_engine, func, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin
from litestar_alchemy_kit.cache import AsyncCache, CachePluginConfig, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.providers import ProviderKeys, ServiceDependency, create_service_provider
from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository
from litestar_alchemy_kit.service import CachedAsyncRepositoryService


class Base(DeclarativeBase):
    pass


class Widget(Base):
    __tablename__ = "lak_readctx_widget"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40))


class WidgetRepository(CachedAsyncRepository[Widget]):
    model_type = Widget


class SyncWidgetRepository(CachedSyncRepository[Widget]):
    model_type = Widget


def _cache() -> AsyncCache:
    return AsyncCache(MemoryStore(), namespace=f"lakrc{uuid.uuid4().hex[:8]}")


async def _seed(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(Widget.__table__.insert(), [{"id": 1, "name": name}])


async def _read(maker: Any, cache: AsyncCache, before: Callable[[Any], Any] | None = None) -> tuple[list[str], str]:
    """``list()`` and ``get(1)``, each in a session of its own (after ``before(session)``): under SQLite's
    isolation only a read that opens its transaction populates."""
    async with maker() as session:
        if before is not None:
            await before(session)
        names = [row.name for row in await WidgetRepository(session=session, cache=cache, auto_expunge=True).get_many()]
    async with maker() as session:
        if before is not None:
            await before(session)
        return names, (await WidgetRepository(session=session, cache=cache, auto_expunge=True).get(1)).name


async def _rounds(makers: list[Any], cache: AsyncCache) -> None:
    """Each maker's database answers its own rows, and once warm (an engine's first read, before it has connected,
    bypasses) from the cache: every read of the last round is a hit."""
    expected = [(["first"], "first"), (["second"], "second")]
    for _ in range(2):
        assert [await _read(maker, cache) for maker in makers] == expected
    hits = cache.stats["hit"]
    assert [await _read(maker, cache) for maker in makers] == expected
    assert cache.stats["hit"] == hits + 4, dict(cache.stats)


@pytest.fixture
async def two_databases(
    async_engine: AsyncEngine, second_database: Callable[[URL], URL]
) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    other = create_async_engine(second_database(async_engine.url))
    try:
        await _seed(async_engine, "first")
        await _seed(other, "second")
        yield async_engine, other
    finally:
        await other.dispose()


async def test_two_databases_behind_one_cache_never_share_entries(two_databases: tuple[AsyncEngine, ...]) -> None:
    cache = _cache()
    makers = [async_sessionmaker(engine, expire_on_commit=False) for engine in two_databases]
    for maker in makers:
        bind_cache(maker, cache)
    await _rounds(makers, cache)


async def _other_schema(engine: AsyncEngine, *, create: bool = True) -> None:
    """PostgreSQL: the second database's row in a schema of the first (named by a search path), or dropped."""
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS lak_readctx_other CASCADE"))
        if create:
            await conn.execute(text("CREATE SCHEMA lak_readctx_other"))
            await conn.execute(
                text("CREATE TABLE lak_readctx_other.lak_readctx_widget (id int primary key, name varchar(40))")
            )
            await conn.execute(text("INSERT INTO lak_readctx_other.lak_readctx_widget VALUES (1, 'second')"))


def _args_for(engine: AsyncEngine, other: URL) -> dict[str, Any]:
    """``connect_args`` that send an engine with ``engine``'s URL to the database or schema of ``other``."""
    driver = engine.url.get_driver_name()
    if driver == "asyncpg":
        return {"server_settings": {"search_path": "lak_readctx_other"}}
    if driver == "psycopg":
        return {"options": "-c search_path=lak_readctx_other"}
    return {"db": other.database}  # asyncmy


async def test_engines_differing_only_in_connect_args_never_share_entries(
    two_databases: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, other = two_databases
    if first.dialect.name == "sqlite":
        pytest.skip("sqlite: the file is the URL's; connect_args name no other database")
    if first.dialect.name == "postgresql":  # a schema of the same database, named only in the connect arguments
        await _other_schema(first)
    cache = _cache()
    steered = create_async_engine(first.url, connect_args=_args_for(first, other.url))
    try:
        makers = [async_sessionmaker(engine, expire_on_commit=False) for engine in (first, steered)]
        for maker in makers:
            bind_cache(maker, cache)
        await _rounds(makers, cache)
    finally:
        await steered.dispose()
        if first.dialect.name == "postgresql":
            await _other_schema(first, create=False)


async def _switch(session: Any, engine: AsyncEngine, other: URL, *, local: bool) -> None:
    """Send the session's unqualified names to the other database (its schema on PostgreSQL), in SQL."""
    name = engine.dialect.name
    if name == "postgresql":
        await session.execute(text(f"SET {'LOCAL ' if local else ''}search_path TO lak_readctx_other"))
    elif name == "mysql":
        await session.execute(text(f"USE `{other.database}`"))
    else:  # SQLite: a case-sensitive LIKE (the other rows are the same file's)
        await session.execute(text("PRAGMA case_sensitive_like = ON"))


@pytest.mark.parametrize("local", [True, False], ids=["transaction", "connection"])
async def test_settings_changed_in_sql_bypass_the_cache(
    two_databases: tuple[AsyncEngine, AsyncEngine], local: bool
) -> None:
    first, other = two_databases
    dialect = first.dialect.name
    if local and dialect != "postgresql":
        pytest.skip(f"{dialect}: no setting lasts one transaction only")
    if dialect == "postgresql":
        await _other_schema(first)
    # one pooled connection, so a setting that outlives its session is met by the next one
    engine = create_async_engine(first.url, pool_size=1, max_overflow=0)
    cache = _cache()
    maker = async_sessionmaker(engine, expire_on_commit=False)
    bind_cache(maker, cache)
    like = Widget.name.like("F%")  # SQLite's LIKE ignores case until case_sensitive_like

    async def names(before: Callable[[Any], Any] | None = None) -> list[str]:
        async with maker() as session:
            if before is not None:
                await before(session)
            repo = WidgetRepository(session=session, cache=cache, auto_expunge=True)
            return [row.name for row in await repo.get_many(like if dialect == "sqlite" else Widget.id == 1)]

    expected = [] if dialect == "sqlite" else ["second"]
    try:
        assert await names() == ["first"]
        assert await names() == ["first"]  # a hit: the entry the switched reads must not be served
        hits = cache.stats["hit"]
        assert await names(lambda session: _switch(session, first, other.url, local=local)) == expected
        if not local and dialect == "postgresql":  # a plain SET is undone by the rollback that ends the session
            async with maker() as session:
                await _switch(session, first, other.url, local=False)
                await session.commit()
        if local:  # the setting ended with its transaction: served again
            assert await names() == ["first"]
            assert cache.stats["hit"] == hits + 1
        else:  # the pooled connection still carries it
            assert await names() == expected
            assert cache.stats["hit"] == hits
    finally:
        await engine.dispose()
        if dialect == "postgresql":
            await _other_schema(first, create=False)


async def _row_level_security(conn: Any) -> None:
    await conn.execute(text("CREATE TABLE lak_readctx_widget (id int primary key, name varchar(40))"))
    await conn.execute(text("INSERT INTO lak_readctx_widget VALUES (1, 't1'), (2, 't2')"))
    await conn.execute(text("ALTER TABLE lak_readctx_widget ENABLE ROW LEVEL SECURITY"))
    await conn.execute(text("ALTER TABLE lak_readctx_widget FORCE ROW LEVEL SECURITY"))
    await conn.execute(
        text("CREATE POLICY by_tenant ON lak_readctx_widget USING (name = current_setting('app.tenant', true))")
    )
    # superusers bypass row-level security: each session reads as an ordinary role (SET LOCAL ROLE)
    await conn.execute(
        text(
            "DO $$ BEGIN CREATE ROLE lak_readctx_app NOLOGIN;"
            " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    )
    await conn.execute(text("GRANT SELECT ON lak_readctx_widget TO lak_readctx_app"))


async def _filtering_view(conn: Any) -> None:
    # the same filter in a view: set_config is the only statement that changes what the read returns
    await conn.execute(text("CREATE TABLE lak_readctx_rows (id int primary key, name varchar(40))"))
    await conn.execute(text("INSERT INTO lak_readctx_rows VALUES (1, 't1'), (2, 't2')"))
    await conn.execute(
        text(
            "CREATE VIEW lak_readctx_widget AS"
            " SELECT id, name FROM lak_readctx_rows WHERE name = current_setting('app.tenant', true)"
        )
    )


async def _drop(conn: Any) -> None:
    # one name, a table in one case and a view in the other: DROP VIEW refuses a table
    kind = (
        await conn.execute(
            text(
                "SELECT relkind::text FROM pg_class WHERE relname = 'lak_readctx_widget' AND relnamespace = current_schema()::regnamespace"
            )
        )
    ).scalar_one_or_none()
    if kind is not None:
        await conn.execute(text(f"DROP {'VIEW' if kind == 'v' else 'TABLE'} lak_readctx_widget"))
    await conn.execute(text("DROP TABLE IF EXISTS lak_readctx_rows"))


@pytest.mark.asyncpg
@pytest.mark.integration
@pytest.mark.parametrize("filtered_by", ["row_level_security", "view"])
async def test_a_session_setting_read_by_the_database_bypasses_the_cache(postgres_url: str, filtered_by: str) -> None:
    """Rows filtered by ``current_setting('app.tenant')`` (a policy, a view), set per session with ``set_config``."""
    engine = create_async_engine(make_url(postgres_url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.begin() as conn:
            await _drop(conn)
            await (_row_level_security if filtered_by == "row_level_security" else _filtering_view)(conn)
        cache = _cache()
        maker = async_sessionmaker(engine, expire_on_commit=False)
        bind_cache(maker, cache)
        seen: list[list[str]] = []
        for tenant in ("t1", "t2", "t1"):
            async with maker() as session:
                if filtered_by == "row_level_security":
                    await session.execute(text("SET LOCAL ROLE lak_readctx_app"))
                await session.execute(select(func.set_config("app.tenant", tenant, True)))
                seen.append([row.name for row in await WidgetRepository(session=session, cache=cache).get_many()])
        assert seen == [["t1"], ["t2"], ["t1"]]
    finally:
        async with engine.begin() as conn:
            await _drop(conn)
        await engine.dispose()


@pytest.mark.sqlite
@pytest.mark.integration
def test_two_sqlite_files_behind_one_sync_cache_never_share_entries(tmp_path: Path) -> None:
    cache = SyncCache(SyncMemoryBackend(), namespace=f"lakrc{uuid.uuid4().hex[:8]}")
    engines = [create_engine(f"sqlite:///{tmp_path / name}.db") for name in ("first", "second")]
    try:
        makers = []
        for engine, name in zip(engines, ("first", "second"), strict=True):
            Base.metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(Widget.__table__.insert(), [{"id": 1, "name": name}])
            maker = sessionmaker(engine, expire_on_commit=False)
            bind_cache(maker, cache)
            makers.append(maker)
        for _ in range(2):
            seen = []
            for maker in makers:
                session: Session
                with maker() as session:
                    names = [row.name for row in SyncWidgetRepository(session=session, cache=cache).get_many()]
                with maker() as session:
                    seen.append((names, SyncWidgetRepository(session=session, cache=cache).get(1).name))
            assert seen == [(["first"], "first"), (["second"], "second")]
        assert cache.stats["hit"] >= 4, dict(cache.stats)
    finally:
        for engine in engines:
            engine.dispose()


# --- the composed plugin, two databases of one model --------------------------------------------------


class WidgetService(CachedAsyncRepositoryService[Widget, WidgetRepository]):
    repository_type = WidgetRepository


@get("/main/widgets")
async def main_widgets(widgets: NamedDependency[WidgetService]) -> list[str]:
    return [widget.name for widget in await widgets.get_many()]


@get("/archive/widgets")
async def archive_widgets(archived: NamedDependency[WidgetService]) -> list[str]:
    return [widget.name for widget in await archived.get_many()]


@pytest.mark.aiosqlite
@pytest.mark.integration
async def test_the_plugin_with_two_databases_serves_each_its_own_rows(tmp_path: Path) -> None:
    """``AlchemyKitConfig(alchemy=[main, archive])``: one model in two databases, a service provider for each."""
    for name in ("main", "archive"):
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / name}.db")
        await _seed(engine, name)
        await engine.dispose()
    main = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'main'}.db",
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    archive = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'archive'}.db",
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
        engine_dependency_key="archive_engine",
        session_dependency_key="archive_session",
        engine_app_state_key="archive_engine",
        session_maker_app_state_key="archive_session_maker",
        session_scope_key="_lak_readctx_archive_session",
    )
    kit = AlchemyKitConfig(
        alchemy=[main, archive],
        cache=CachePluginConfig(namespace=f"lakrc{uuid.uuid4().hex[:8]}"),
        services={"widgets": ServiceDependency(WidgetService)},
    )
    archived = create_service_provider(WidgetService, keys=ProviderKeys(session="archive_session"))
    app = Litestar(
        route_handlers=[main_widgets, archive_widgets],
        dependencies={"archived": Provide(archived)},
        plugins=[AlchemyKitPlugin(kit)],
        debug=False,
    )
    async with AsyncTestClient(app) as client:
        for _ in range(3):  # the later rounds from the cache
            assert (await client.get("/main/widgets")).json() == ["main"]
            assert (await client.get("/archive/widgets")).json() == ["archive"]
        cache = app.state[kit.cache.state_key] if kit.cache is not None else None
        assert cache is not None and cache.stats["hit"] >= 2, dict(cache.stats)


async def test_an_engines_first_read_populates(async_engine: AsyncEngine) -> None:
    """An engine that has not connected yet: its first read learns its database first, then misses and stores."""
    await _seed(async_engine, "first")
    fresh = create_async_engine(async_engine.url)  # its connect arguments are not known yet
    try:
        cache = _cache()
        maker = async_sessionmaker(fresh, expire_on_commit=False)
        bind_cache(maker, cache)
        assert await _read(maker, cache) == (["first"], "first")
        assert (cache.stats["miss"], cache.stats["bypass"], cache.stats["hit"]) == (2, 0, 0), dict(cache.stats)
        assert await _read(maker, cache) == (["first"], "first")
        assert cache.stats["hit"] == 2, dict(cache.stats)
    finally:
        await fresh.dispose()
