"""Worker processes write through the service context; the app's next read over HTTP is fresh.

A separate OS process, async or sync (the generated ``SyncServiceContext``), shares only the
database and the Redis/Valkey store with the app. Many rounds: read twice (the second a hit),
the worker commits a new title, the app's next read returns it.
"""

import uuid
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import create_async_engine

from litestar_alchemy_kit.auth import TenantScope
from litestar_alchemy_kit.cache import MISS, AsyncCache, SyncCache
from litestar_alchemy_kit.providers import AsyncServiceContext
from tests._line_process import LineProcess
from tests.integration.providers._worker_app import TENANT, build_app, make_store
from tests.integration.providers.models import NoteService, ProvidersBase

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]

ROUNDS = 25
STORES = [
    pytest.param("redis_store", marks=pytest.mark.redis_store),
    pytest.param("valkey_store", marks=pytest.mark.valkey_store),
]


def _url(request: pytest.FixtureRequest, store_kind: str) -> str:
    return str(request.getfixturevalue(store_kind.replace("_store", "_url")))


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("store_kind", STORES)
async def test_a_worker_process_commit_is_seen_by_the_apps_next_read(
    mode: str, store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = _url(request, store_kind)
    db_path = str(tmp_path / "shared.db")
    engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}")
    async with engine.begin() as conn:
        await conn.run_sync(ProvidersBase.metadata.create_all)
    await engine.dispose()
    namespace = f"lakw{uuid.uuid4().hex[:10]}"
    app = build_app(db_path, store_kind, url, namespace)
    async with AsyncServiceContext.from_app(app, scope=TenantScope(TENANT)) as context:
        note = await context.service(NoteService).create({"title": "v0"})
    worker = LineProcess("tests.integration.providers._worker_app", mode, db_path, store_kind, url, namespace, note.id)
    try:
        async with AsyncTestClient(app=app) as client:
            for round_ in range(1, ROUNDS + 1):
                url_path = f"/notes/{note.id}"
                await client.get(url_path)
                cached = await client.get(url_path)
                assert cached.json() == {"title": f"v{round_ - 1}"}
                assert worker.ask(f"set v{round_}") == "ok"
                fresh = await client.get(url_path)
                assert fresh.json() == {"title": f"v{round_}"}, f"stale read in round {round_}"
            assert app.state.cache.stats["hit"] >= ROUNDS
    finally:
        assert worker.close(timeout=60) == 0


@pytest.mark.parametrize("store_kind", STORES)
async def test_a_sync_cache_on_the_apps_store_shares_its_keys(store_kind: str, request: pytest.FixtureRequest) -> None:
    import redis
    import valkey

    url = _url(request, store_kind)
    namespace = f"lakk{uuid.uuid4().hex[:10]}"
    store = make_store(store_kind, url, namespace)
    app_cache = AsyncCache(store, namespace="app")
    twin = SyncCache(store, namespace="app")
    bare_client = (redis.Redis if store_kind == "redis_store" else valkey.Valkey).from_url(url)
    bare = SyncCache(bare_client, namespace="app")
    try:
        key = app_cache.key("test", "k")
        versions = await app_cache.versions(["t:items"])
        assert versions is not None
        assert await app_cache.set(key, "v", versions)
        assert twin.get(key, ["t:items"]) == "v"  # the same entry, read through the sync twin
        # A bare client has no key prefix: its bump lands beside the store's keys and invalidates nothing.
        bare.bump(["t:items"])
        assert await app_cache.get(key, ["t:items"]) == "v"
        # Built on the store itself, the sync cache writes the store's keys.
        twin.bump(["t:items"])
        assert await app_cache.get(key, ["t:items"]) is MISS
        assert twin.get(key, ["t:items"]) is MISS
    finally:
        twin.close()
        bare.close()
        bare_client.close()
        await app_cache.close()
