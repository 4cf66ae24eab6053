"""CachePlugin: the store comes from the app's registry by name; user settings win."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.stores.memory import MemoryStore
from litestar.testing import TestClient

from litestar_alchemy_kit.cache import MISS, AsyncCache, CachePlugin, CachePluginConfig


@get("/hit")
async def hit(cache: NamedDependency[AsyncCache]) -> dict[str, object]:
    key = cache.key("answer", "v1")
    calls = []

    async def loader() -> int:
        calls.append(1)
        return 42

    value = await cache.get_or_load(key, ["answers"], loader)
    return {"value": value, "loaded": len(calls), "namespace": cache.namespace}


def test_plugin_uses_the_named_store_and_provides_the_cache() -> None:
    store = MemoryStore()
    app = Litestar(
        [hit], stores={"shared": store}, plugins=[CachePlugin(CachePluginConfig(store="shared", namespace="web"))]
    )
    with TestClient(app) as client:
        assert client.get("/hit").json() == {"value": 42, "loaded": 1, "namespace": "web"}
        assert client.get("/hit").json() == {"value": 42, "loaded": 0, "namespace": "web"}
        cache = app.state["cache"]
        assert isinstance(cache, AsyncCache)
        assert cache.backend.store is store  # type: ignore[attr-defined]


async def test_user_settings_win() -> None:
    mine = AsyncCache(MemoryStore(), namespace="mine")

    def provide_other() -> str:
        return "user dependency"

    app = Litestar([], dependencies={"cache": Provide(provide_other, sync_to_thread=False)}, plugins=[CachePlugin()])
    app.state["cache"] = mine
    async with app.lifespan():
        assert app.state["cache"] is mine
    assert app.dependencies["cache"].dependency is provide_other
    assert await mine.get(mine.key("k", "f")) is MISS
