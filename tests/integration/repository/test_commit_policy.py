"""The commit policies in one process: what a commit does when its store cannot take the markers.

The store that cannot be reached is a real client on a port nobody listens on; the database is SQLite on disk.
The cross-process behaviour (partition, SIGKILL) is in ``test_partition.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from litestar import Litestar, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.stores.redis import RedisStore
from litestar.testing import TestClient
from redis.asyncio import Redis
from sqlalchemy import MetaData, select, update
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from litestar_alchemy_kit.cache import AsyncCache, AsyncMemoryBackend, CacheOptions
from litestar_alchemy_kit.errors import ErrorsPlugin
from litestar_alchemy_kit.exceptions import CommitRefusedError
from litestar_alchemy_kit.orm.invalidation import bind_cache
from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table
from tests._backends import free_port
from tests.integration.repository._async import ItemRepository
from tests.integration.repository.models import Item, RepoBase

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]

FAST = {"timeout": 0.2, "breaker_threshold": 1000}


def _unreachable(policy: str) -> AsyncCache:
    """A cache whose Redis cannot be reached (nothing listens on the port)."""
    client = Redis(port=free_port(), socket_connect_timeout=0.2)
    return AsyncCache(RedisStore(client, namespace="lakpol"), "lakpol", CacheOptions(commit_policy=policy, **FAST))  # type: ignore[arg-type]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'policy.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(RepoBase.metadata.create_all)
    yield engine
    await engine.dispose()


async def _quantities(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(Item.quantity).order_by(Item.quantity))).scalars())


async def test_strict_refuses_the_commit_and_nothing_is_committed(engine: AsyncEngine) -> None:
    cache = _unreachable("strict")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        with pytest.raises(CommitRefusedError, match=r"namespace\(s\) lakpol .*commit_policy='strict'"):
            await ItemRepository(session=session, cache=cache).add(Item(name="x", quantity=7), auto_commit=True)
    assert await _quantities(engine) == []

    async def plain_session_commit() -> None:
        async with sessions() as session, session.begin():
            bind_cache(session, cache)
            session.add(Item(name="y", quantity=8))

    with pytest.raises(CommitRefusedError):
        await plain_session_commit()
    assert await _quantities(engine) == []
    await cache.close()


async def test_available_commits_and_records_the_invalidation_in_the_outbox(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    table = outbox_table(MetaData())
    async with engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
    outbox = InvalidationOutbox(table, staleness_bound=0.5)
    writer = _unreachable("available")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    # Without an outbox the commit goes through and says what it could not guarantee.
    with caplog.at_level(logging.WARNING, "litestar_alchemy_kit.orm.outbox"):
        async with sessions() as session:
            item = await ItemRepository(session=session, cache=writer).add(Item(name="x", quantity=1), auto_commit=True)
    assert "no invalidation outbox is attached" in caplog.text
    assert await _quantities(engine) == [1]

    # Another process: its store is reachable, it caches the row, it drains the outbox.
    reader = AsyncCache(AsyncMemoryBackend(), "lakpol")
    try:
        await _another_process(engine, sessions, outbox, table, writer, reader, item.id)
    finally:
        await writer.close()
        await reader.close()


async def _another_process(  # noqa: PLR0917
    engine: AsyncEngine,
    sessions: Any,
    outbox: InvalidationOutbox,
    table: Any,
    writer: AsyncCache,
    reader: AsyncCache,
    item_id: Any,
) -> None:
    outbox.attach(reader)
    async with sessions() as session:
        assert (await ItemRepository(session=session, cache=reader).get(item_id)).quantity == 1
    assert reader.bypass_reasons["outbox_undrained"] == 1, "no hit before the first drain"
    assert await outbox.drain_async(engine, reader)
    async with sessions() as session:
        repository = ItemRepository(session=session, cache=reader)
        await repository.get(item_id)
        assert (await repository.get(item_id)).quantity == 1
    hits = reader.stats["hit"]
    assert hits >= 1

    # the writer is another process: its own outbox on the same table (one outbox delivers a namespace's rows to
    # every cache attached to it, and the writer's store is out of reach)
    InvalidationOutbox(table, staleness_bound=outbox.staleness_bound).attach(writer)
    async with sessions() as session:
        await ItemRepository(session=session, cache=writer).update(Item(id=item_id, quantity=2), auto_commit=True)
    async with engine.connect() as connection:
        [row] = (await connection.execute(select(table))).all()
    assert row.namespace == "lakpol"
    assert "lak_repo_item" in "".join(json.loads(row.tags))
    assert await outbox.drain_async(engine, reader)
    async with engine.connect() as connection:
        assert (await connection.execute(select(table))).all() == []
    async with sessions() as session:
        assert (await ItemRepository(session=session, cache=reader).get(item_id)).quantity == 2
    assert reader.stats["hit"] == hits, "the drain invalidated the entry from before the commit"

    # A process that stops draining stops serving hits once the bound has passed since its last drain began.
    await asyncio.sleep(0.5)
    async with sessions() as session:
        repository = ItemRepository(session=session, cache=reader)
        await repository.get(item_id)
        await repository.get(item_id)
    assert reader.stats["hit"] == hits
    assert reader.bypass_reasons["outbox_undrained"] >= 3


@post("/items/{quantity:int}")
async def create_item(quantity: FromPath[int], db_session: NamedDependency[AsyncSession]) -> dict[str, int]:
    db_session.add(Item(name="via http", quantity=quantity))
    return {"quantity": quantity}


def test_a_refused_commit_is_a_503_with_a_stable_code(tmp_path: Path) -> None:
    database = tmp_path / "http.db"
    cache = _unreachable("strict")
    config = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{database}",
        before_send_handler="autocommit",
        create_all=True,
        metadata=RepoBase.metadata,
    )
    bind_cache(config.create_session_maker(), cache)
    app = Litestar([create_item], plugins=[SQLAlchemyPlugin(config=config), ErrorsPlugin()])
    with TestClient(app) as client:
        response = client.post("/items/5")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["code"] == "cache.commit_refused"
    assert "lakpol" not in json.dumps(body), "no internals in the problem"
    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")

    async def stored() -> list[int]:
        try:
            return await _quantities(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(stored()) == []


async def test_a_sync_engine_write_cannot_mark_an_async_cache(tmp_path: Path) -> None:
    """A sync engine has no event loop to await an async cache on: its marker counts as not taken.

    Strict refuses the write (nothing committed); available commits it with an outbox row, which a drain
    delivers to the async cache.
    """
    for policy in ("strict", "available"):
        path = tmp_path / f"{policy}.db"
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        sync_engine = create_sync_engine(f"sqlite:///{path}")
        table = outbox_table(MetaData())
        RepoBase.metadata.create_all(sync_engine)
        table.metadata.create_all(sync_engine)
        cache = AsyncCache(AsyncMemoryBackend(), f"lakmixed{policy}", CacheOptions(commit_policy=policy))  # type: ignore[arg-type]
        outbox = InvalidationOutbox(table, staleness_bound=60.0)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        bind_cache(sessions, cache)  # the async cache is invalidated by raw writes on this database
        try:
            outbox.attach(cache)
            assert await outbox.drain_async(engine, cache)
            async with sessions() as session:
                item = await ItemRepository(session=session, cache=cache).add(
                    Item(name="x", quantity=1), auto_commit=True
                )
            async with sessions() as session:
                repository = ItemRepository(session=session, cache=cache)
                await repository.get(item.id)
                hits = cache.stats["hit"]
                assert (await repository.get(item.id)).quantity == 1
                assert cache.stats["hit"] == hits + 1
            write = update(Item.__table__).where(Item.__table__.c.id == item.id).values(quantity=2)
            if policy == "strict":
                with pytest.raises(CommitRefusedError), sync_engine.begin() as conn:
                    conn.execute(write)
                assert await _quantities(engine) == [1]
                continue
            with sync_engine.begin() as conn:
                conn.execute(write)
            assert await _quantities(engine) == [2]
            with sync_engine.connect() as conn:
                [row] = conn.execute(select(table)).all()
            assert Item.__table__.name in row.tags
            assert await outbox.drain_async(engine, cache)
            async with sessions() as session:
                assert (await ItemRepository(session=session, cache=cache).get(item.id)).quantity == 2
        finally:
            await cache.close()
            await engine.dispose()
            sync_engine.dispose()
