"""A writer in another OS process for the cross-process tests: commits (or rolls back) through its own cache client.

Protocol on stdin/stdout, one line each: ``set <n>`` commits ``quantity = n`` on item 1,
``rollback <n>`` writes it and rolls back; each answers ``ok``. EOF ends the process.
Usage: ``python -m tests.integration.response_cache._writer_process <async|sync> <db_path> <server> <url> <store_ns> <cache_ns>``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def _client(server: str, url: str, flavour: str) -> Any:
    if server == "redis":
        if flavour == "async":
            from redis.asyncio import Redis as AsyncRedis

            return AsyncRedis.from_url(url)
        from redis import Redis

        return Redis.from_url(url)
    if flavour == "async":
        from valkey.asyncio import Valkey as AsyncValkey

        return AsyncValkey.from_url(url)
    from valkey import Valkey

    return Valkey.from_url(url)


async def run_async(db_path: str, server: str, url: str, store_ns: str, cache_ns: str) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from litestar_alchemy_kit.cache import AsyncCache, AsyncRedisBackend
    from litestar_alchemy_kit.repository import CachedAsyncRepository
    from tests.integration.response_cache._app import Item

    class Items(CachedAsyncRepository[Item]):
        model_type = Item

    engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}")
    client = _client(server, url, "async")
    cache = AsyncCache(AsyncRedisBackend(client, prefix=f"{store_ns}:"), namespace=cache_ns)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).split():
        command, value = line[0], int(line[1])
        async with sessions() as session:
            repository = Items(session=session, cache=cache)
            if command == "set":
                await repository.update(Item(id=1, quantity=value), auto_commit=True)
            else:
                await repository.update(Item(id=1, quantity=value))
                await session.rollback()
        sys.stdout.write("ok\n")
        sys.stdout.flush()
    await cache.close()
    await client.aclose()
    await engine.dispose()


def run_sync(db_path: str, server: str, url: str, store_ns: str, cache_ns: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from litestar_alchemy_kit.cache import SyncCache, SyncRedisBackend
    from litestar_alchemy_kit.repository import CachedSyncRepository
    from tests.integration.response_cache._app import Item

    class Items(CachedSyncRepository[Item]):
        model_type = Item

    engine = create_engine(f"sqlite:///{db_path}")
    client = _client(server, url, "sync")
    cache = SyncCache(SyncRedisBackend(client, prefix=f"{store_ns}:"), namespace=cache_ns)
    sessions = sessionmaker(engine, expire_on_commit=False)
    while line := sys.stdin.readline().split():
        command, value = line[0], int(line[1])
        with sessions() as session:
            repository = Items(session=session, cache=cache)
            if command == "set":
                repository.update(Item(id=1, quantity=value), auto_commit=True)
            else:
                repository.update(Item(id=1, quantity=value))
                session.rollback()
        sys.stdout.write("ok\n")
        sys.stdout.flush()
    cache.close()
    client.close()
    engine.dispose()


if __name__ == "__main__":
    flavour, *arguments = sys.argv[1:7]
    if flavour == "async":
        asyncio.run(run_async(*arguments))
    else:
        run_sync(*arguments)
