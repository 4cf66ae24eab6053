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


async def test_the_default_store_is_bounded_and_the_users_stores_are_kept() -> None:
    from litestar.stores.registry import StoreRegistry

    from litestar_alchemy_kit.cache import BoundedMemoryStore

    # nothing registered: a bounded store under the cache's name
    app = Litestar([], plugins=[CachePlugin(CachePluginConfig(store="kit"))])
    async with app.lifespan():
        assert isinstance(app.stores.get("kit"), BoundedMemoryStore)
        assert isinstance(app.state["cache"].backend.store, BoundedMemoryStore)

    # other stores registered: they stay, the cache's name gets a bounded store; the user's dict is not changed
    sessions = MemoryStore()
    mine = {"sessions": sessions}
    app = Litestar([], stores=mine, plugins=[CachePlugin(CachePluginConfig(store="kit"))])
    assert mine == {"sessions": sessions}
    assert app.stores.get("sessions") is sessions
    assert isinstance(app.stores.get("kit"), BoundedMemoryStore)

    # the user's store under the cache's name wins, whatever its kind
    plain = MemoryStore()
    app = Litestar([], stores={"kit": plain}, plugins=[CachePlugin(CachePluginConfig(store="kit"))])
    assert app.stores.get("kit") is plain

    # a StoreRegistry is the user's: its default factory decides
    registry = StoreRegistry(default_factory=lambda _name: plain)
    app = Litestar([], stores=registry, plugins=[CachePlugin(CachePluginConfig(store="kit"))])
    assert app.stores is registry
    assert app.stores.get("kit") is plain
