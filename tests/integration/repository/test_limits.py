"""Size caps: every async engine x every store of the matrix, and every sync engine x every sync backend."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from litestar_alchemy_kit.cache import AsyncCache
from tests.conftest import PATIENT, StoreBackend
from tests.integration.repository import _limits_async, _limits_sync
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import RepoBase


async def test_oversized_values_and_results_async(async_engine: AsyncEngine, store_backend: StoreBackend) -> None:
    async with async_engine.begin() as conn:
        await conn.run_sync(RepoBase.metadata.drop_all)
        await conn.run_sync(RepoBase.metadata.create_all)
    namespace = f"laklim{uuid.uuid4().hex[:10]}"
    caches: list[AsyncCache] = []

    def make_cache() -> AsyncCache:
        caches.append(AsyncCache(store_backend.make(namespace), namespace=namespace, options=PATIENT))
        return caches[-1]

    env = Env(async_sessionmaker(async_engine, expire_on_commit=False), make_cache, "async", async_engine)
    try:
        await _limits_async.oversized_values_and_results_are_served_uncached(env)
    finally:
        for cache in caches:
            await cache.close()
        async with async_engine.begin() as conn:
            await conn.run_sync(RepoBase.metadata.drop_all)


def test_oversized_values_and_results_sync(sync_env: Env) -> None:
    _limits_sync.oversized_values_and_results_are_served_uncached(sync_env)
