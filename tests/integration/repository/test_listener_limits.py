"""What the listeners cannot see, as the docs list it: each limit shown, then its remedy.

Every other write path is observed (tests/integration/repository/test_safety_*.py); these are the
writes no code of this process runs, or that the database makes on its own. The last test is not a
listener limit: the write is seen, and what happens to it depends on the commit policy.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.stores.redis import RedisStore
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

from litestar_alchemy_kit import declare_dependency, table_tag
from litestar_alchemy_kit.cache import AsyncCache, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import cascades
from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository, bind_cache
from tests.integration.repository.models import Item, RepoBase

pytestmark = [pytest.mark.integration]

ITEM = Item.__table__.name


class Items(CachedSyncRepository[Item]):
    model_type = Item


class AsyncItems(CachedAsyncRepository[Item]):
    model_type = Item


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    RepoBase.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(Item.__table__.insert(), [{"id": uuid.uuid4(), "name": "before", "quantity": 0, "tenant": "a"}])
    yield engine
    engine.dispose()


def _names(factory: Any, cache: Any) -> list[str]:
    with factory() as session:
        return sorted(item.name for item in Items(session=session, cache=cache).get_many())


def _warm(factory: Any, cache: Any) -> list[str]:
    first = _names(factory, cache)
    hits = cache.stats["hit"]
    assert _names(factory, cache) == first
    assert cache.stats["hit"] == hits + 1
    return first


@pytest.mark.sqlite
def test_writes_from_another_program_need_an_explicit_bump(sqlite_engine: Engine) -> None:
    cache = SyncCache(SyncMemoryBackend(), namespace="lakmiss1")
    factory = sessionmaker(sqlite_engine, expire_on_commit=False)
    bind_cache(factory, cache)
    assert _warm(factory, cache) == ["before"]
    # another program (no SQLAlchemy, no listener of ours) writes the database
    program = f"import sqlite3; c = sqlite3.connect({str(sqlite_engine.url.database)!r}); "
    program += f"c.execute(\"UPDATE {ITEM} SET name = 'after'\"); c.commit()"
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)
    assert _names(factory, cache) == ["before"]  # the limit: nothing in this process saw it
    cache.bump([table_tag(Item.__table__)])  # the remedy  # type: ignore[arg-type]
    assert _names(factory, cache) == ["after"]


@pytest.mark.sqlite
def test_triggers_count_once_declared(sqlite_engine: Engine) -> None:
    audit = RepoBase.metadata.tables["lak_repo_label"]  # any table a trigger writes
    with sqlite_engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TRIGGER lak_miss_trg AFTER UPDATE ON {ITEM} "
                f"BEGIN INSERT INTO {audit.name} (id, name) VALUES (lower(hex(randomblob(16))), NEW.name); END"
            )
        )
    cache = SyncCache(SyncMemoryBackend(), namespace="lakmiss2")
    factory = sessionmaker(sqlite_engine, expire_on_commit=False)
    bind_cache(factory, cache)

    def labels() -> int:
        with factory() as session:
            return int(
                type("Labels", (CachedSyncRepository,), {"model_type": _label_model()})(
                    session=session, cache=cache
                ).count()
            )

    def rename(name: str) -> None:
        with factory() as session:
            session.execute(update(Item).values(name=name))
            session.commit()

    assert labels() == labels() == 0
    rename("first")
    assert labels() == 0  # the limit: the trigger's row is invisible to every listener until reflected or declared
    declare_dependency(Item.__table__, audit)  # type: ignore[arg-type]  # the remedy
    try:
        rename("second")
        assert labels() == 2
    finally:
        cascades.forget_dependencies()  # this test's declaration only


def _label_model() -> type[Any]:
    from tests.integration.repository.models import Label

    return Label


@pytest.mark.psycopg
def test_select_with_side_effects_needs_the_function_known(postgres_url: str) -> None:
    """A function neither reflected nor declared writes nothing as far as the cache knows."""
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    RepoBase.metadata.drop_all(engine)
    RepoBase.metadata.create_all(engine)
    cascades.forget_dependencies()
    try:
        with engine.begin() as conn:
            conn.execute(Item.__table__.insert(), [{"id": uuid.uuid4(), "name": "a", "quantity": 0}])
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION lak_touch() RETURNS integer AS $$ BEGIN "
                    f"UPDATE {ITEM} SET name = name || 'b'; RETURN 1; END $$ LANGUAGE plpgsql"
                )
            )
        cache = SyncCache(SyncMemoryBackend(), namespace="lakmiss3")
        factory = sessionmaker(engine, expire_on_commit=False)
        bind_cache(factory, cache)

        def touch() -> None:
            with factory() as session:
                assert session.execute(select(func.lak_touch())).scalar_one() == 1  # a SELECT that writes
                session.commit()

        assert _warm(factory, cache) == ["a"]
        touch()
        assert _names(factory, cache) == ["a"]  # the limit: an unknown function's call cannot be told from a read
        cache.bump([table_tag(Item.__table__)])  # a remedy  # type: ignore[arg-type]
        assert _names(factory, cache) == ["ab"]
        with engine.connect() as conn:
            cascades.reflect_dependencies(conn)  # the remedy: its body tells (or declare_function(..., writes=...))
        touch()
        assert _names(factory, cache) == ["abb"]
    finally:
        cascades.forget_dependencies()
        with engine.begin() as conn:
            conn.execute(text("DROP FUNCTION IF EXISTS lak_touch()"))
        RepoBase.metadata.drop_all(engine)
        engine.dispose()


@pytest.mark.redis_store
async def test_sync_engine_writes_reach_async_caches_through_a_sync_cache(tmp_path: Path, redis_url: str) -> None:
    """A raw write through a sync engine cannot await an async cache; a SyncCache on the same store can bump it.

    Not a listener limit (the write is seen): with no outbox attached, the ``"available"`` policy can only log it;
    with one, it is recorded there, and ``"strict"`` refuses it (``test_commit_policy.py``).
    """
    path = tmp_path / "mixed.db"
    async_engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    sync_engine = create_engine(f"sqlite:///{path}")
    RepoBase.metadata.create_all(sync_engine)
    with sync_engine.begin() as conn:
        conn.execute(Item.__table__.insert(), [{"id": uuid.uuid4(), "name": "before", "quantity": 0}])
    namespace = f"lakmiss{uuid.uuid4().hex[:8]}"
    client = AsyncRedis.from_url(redis_url)
    # no store-level prefix: the sync cache below (a raw client) addresses the very same keys
    cache = AsyncCache(RedisStore(client, namespace=None), namespace=namespace)
    factory = async_sessionmaker(async_engine, expire_on_commit=False)
    bind_cache(factory, cache)

    async def names() -> list[str]:
        async with factory() as session:
            return sorted(item.name for item in await AsyncItems(session=session, cache=cache).get_many())

    sync_client = Redis.from_url(redis_url)
    try:
        assert await names() == await names() == ["before"]
        with sync_engine.begin() as conn:
            conn.execute(text(f"UPDATE {ITEM} SET name = 'middle'"))
        assert await names() == ["before"]  # no event loop to await the async cache on, and no outbox
        # the remedy: the sync engine's writes invalidate a SyncCache on the same store and namespace
        sync_factory = sessionmaker(sync_engine)  # as an application keeps its session factory
        bind_cache(sync_factory, SyncCache(sync_client, namespace=namespace))
        with sync_engine.begin() as conn:
            conn.execute(text(f"UPDATE {ITEM} SET name = 'after'"))
        assert await names() == ["after"]
    finally:
        await cache.close()
        await client.aclose()
        sync_client.close()
        await async_engine.dispose()
        sync_engine.dispose()
