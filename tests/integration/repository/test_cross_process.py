"""Two processes, two cache clients, one Redis: a commit in one is seen by the next read in the other."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from litestar_alchemy_kit.cache import AsyncCache
from tests.integration.repository._async import ItemRepository
from tests.integration.repository._reader_process import ReaderProcess
from tests.integration.repository.models import Item, RepoBase

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.redis_store]


async def test_commit_in_one_process_is_seen_by_the_next_read_in_another(redis_url: str, tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(RepoBase.metadata.create_all)
    namespace = f"lakxproc{uuid.uuid4().hex[:10]}"
    client = Redis.from_url(redis_url)
    cache = AsyncCache(RedisStore(client, namespace=namespace), namespace=namespace)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        item = await ItemRepository(session=session, cache=cache).add(Item(name="shared", quantity=0), auto_commit=True)
    reader = ReaderProcess(db_url, redis_url, namespace, item.id)
    read = reader.read
    try:
        iterations = 25
        for i in range(1, iterations + 1):
            assert read()[0] == i - 1
            assert read()[0] == i - 1  # served from the shared cache
            async with sessions() as session:
                await ItemRepository(session=session, cache=cache).update(
                    Item(id=item.id, quantity=i), auto_commit=True
                )
            assert read()[0] == i, f"iteration {i}: the other process read a value from before the commit"
        assert read()[1] >= iterations, "the reader process must have been served from the cache"
    finally:
        assert reader.close(timeout=30) == 0
        await client.aclose()
        await engine.dispose()
