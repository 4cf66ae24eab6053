"""A separate reader process for the cross-process tests: reads one row through its own cache client.

Protocol on stdin/stdout, one line each: ``read`` -> ``<quantity> <hits>``; EOF ends the process.
Usage: ``python -m tests.integration.repository._reader_process <db_url> <redis_url> <namespace> <item_id>``,
or :class:`ReaderProcess` from a test.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from tests._line_process import LineProcess


class ReaderProcess(LineProcess):
    """This module in a child process, reading the ``Item`` row ``item_id`` through a Redis/Valkey cache."""

    def __init__(self, db_url: str, redis_url: str, namespace: str, item_id: object) -> None:
        super().__init__("tests.integration.repository._reader_process", db_url, redis_url, namespace, item_id)

    def read(self) -> tuple[int, int]:
        """The row's quantity as the other process reads it, and that process's cache hits so far."""
        quantity, hits = self.ask("read").split()
        return int(quantity), int(hits)


async def main(db_url: str, redis_url: str, namespace: str, item_id: str) -> None:
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from litestar_alchemy_kit.cache import AsyncCache
    from tests.integration.repository._async import ItemRepository

    engine = create_async_engine(db_url)
    client = Redis.from_url(redis_url)
    cache = AsyncCache(RedisStore(client, namespace=namespace), namespace=namespace)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "read":
        async with sessions() as session:
            item = await ItemRepository(session=session, cache=cache).get(uuid.UUID(item_id))
        sys.stdout.write(f"{item.quantity} {cache.stats['hit']}\n")
        sys.stdout.flush()
    await client.aclose()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
