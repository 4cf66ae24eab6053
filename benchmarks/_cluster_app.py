"""The app ``bench_cluster.py`` serves over HTTP: one product read through the kit's cached repository.

The cache sits on a ``RedisStore``/``ValkeyStore`` whose client talks to a single node or to a cluster; nothing
else differs. uvicorn loads ``app``, configured from the environment: ``LAK_BENCH_FLAVOUR`` (``redis`` or
``valkey``), ``LAK_BENCH_TOPOLOGY`` (``single`` or ``cluster``), ``LAK_BENCH_PORT`` (the node, or a node of the
cluster) and ``LAK_BENCH_DB`` (the SQLite database with the product). ``GET /stats`` returns the cache's counts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from _models import Product
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from litestar_alchemy_kit.cache import AsyncCache, CacheOptions
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.repository import CachedAsyncRepository


class Products(CachedAsyncRepository[Product]):
    model_type = Product


def _store(flavour: str, topology: str, port: int) -> tuple[Any, Any]:
    """The store and its client (closed at shutdown)."""
    if flavour == "redis":
        from litestar.stores.redis import RedisStore
        from redis.asyncio import Redis, RedisCluster

        client: Any = (
            RedisCluster(host="127.0.0.1", port=port) if topology == "cluster" else Redis(host="127.0.0.1", port=port)
        )
        return RedisStore(client, namespace="http"), client
    from litestar.stores.valkey import ValkeyStore
    from valkey.asyncio import Valkey, ValkeyCluster

    client = (
        ValkeyCluster(host="127.0.0.1", port=port) if topology == "cluster" else Valkey(host="127.0.0.1", port=port)
    )
    return ValkeyStore(client, namespace="http"), client


def make_app(flavour: str, topology: str, port: int, db_url: str) -> Litestar:
    engine = create_async_engine(db_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    store, client = _store(flavour, topology, port)
    # A generous timeout: on a loaded machine a store call past the default 0.5 s would be a miss, not a hit.
    cache = AsyncCache(store, namespace=f"http{topology}", options=CacheOptions(timeout=5.0))
    bind_cache(sessions, cache)

    async def provide_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    @get("/products/{product_id:uuid}")
    async def product(product_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> dict[str, Any]:
        item = await Products(session=session, cache=cache).get(product_id)
        return {
            "id": str(item.id),
            "name": item.name,
            "sku": item.sku,
            "description": item.description,
            "quantity": item.quantity,
            "price": str(item.price),
            "weight": item.weight,
            "active": item.active,
            "category": item.category,
            "created": item.created.isoformat(),
        }

    @get("/stats")
    async def stats() -> dict[str, int]:
        return dict(cache.stats)

    async def close() -> None:
        await cache.close()
        await client.aclose()
        await engine.dispose()

    return Litestar(
        route_handlers=[product, stats], dependencies={"session": Provide(provide_session)}, on_shutdown=[close]
    )


if os.environ.get("LAK_BENCH_TOPOLOGY"):
    app = make_app(
        os.environ["LAK_BENCH_FLAVOUR"],
        os.environ["LAK_BENCH_TOPOLOGY"],
        int(os.environ["LAK_BENCH_PORT"]),
        os.environ["LAK_BENCH_DB"],
    )
