"""AlchemyKitPlugin: the cache before the first request, bound to every session maker; the user's settings win."""

import uuid
from pathlib import Path

import pytest
from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
    SQLAlchemySyncConfig,
)
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.stores.memory import MemoryStore
from litestar.stores.registry import StoreRegistry
from litestar.testing import AsyncTestClient

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, ServiceDependency
from litestar_alchemy_kit.auth import AuthPlugin, TenantScope
from litestar_alchemy_kit.cache import AsyncCache, BoundedMemoryStore, CachePlugin, CachePluginConfig, SyncCache
from litestar_alchemy_kit.errors import ErrorsPlugin
from litestar_alchemy_kit.orm.invalidation import bound_async_caches
from litestar_alchemy_kit.providers import AsyncServiceContext
from tests.integration.providers.models import NoteService, ProvidersBase, Topic, TopicService

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.memory_store]


def alchemy(tmp_path: Path) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'kit.db'}",
        metadata=ProvidersBase.metadata,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
    )


@get("/topics")
async def topics_route(topics: NamedDependency[TopicService]) -> list[str]:
    return [topic.name for topic in await topics.get_many()]


async def test_the_cache_exists_at_once_and_every_session_of_the_maker_invalidates_it(tmp_path: Path) -> None:
    config = alchemy(tmp_path)
    app = Litestar(
        [topics_route],
        plugins=[
            AlchemyKitPlugin(AlchemyKitConfig(alchemy=config, services={"topics": ServiceDependency(TopicService)}))
        ],
        stores={"cache": MemoryStore()},
    )
    cache = app.state.cache
    assert isinstance(cache, AsyncCache)  # before any request or startup: CLI commands and workers see it
    assert app.stores.get("cache") is app.stores.get("cache")
    async with AsyncTestClient(app=app) as client:
        assert app.state.cache is cache
        async with AsyncServiceContext.from_app(app, scope=None) as context:
            assert context.cache is cache
            await context.service(TopicService).create({"name": "first"})
        assert (await client.get("/topics")).json() == ["first"]
        assert (await client.get("/topics")).json() == ["first"]
        assert cache.stats["hit"] >= 1
        # A plain session of the app's maker, no repository, no bind_cache by hand: its commit invalidates.
        async with config.get_session() as session:
            assert bound_async_caches(session) == (cache,)
            session.add(Topic(name="second"))
            await session.commit()
        assert (await client.get("/topics")).json() == ["first", "second"]


def test_the_default_store_is_bounded_and_a_users_store_or_registry_is_kept(tmp_path: Path) -> None:
    kit = AlchemyKitPlugin(AlchemyKitConfig(alchemy=alchemy(tmp_path)))
    app = Litestar(plugins=[kit])
    assert isinstance(app.stores.get("cache"), BoundedMemoryStore)
    assert app.state.cache.backend.store is app.stores.get("cache")
    mine = MemoryStore()
    assert (
        Litestar(
            plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=alchemy(tmp_path)))], stores={"cache": mine}
        ).stores.get("cache")
        is mine
    )
    registry = StoreRegistry(default_factory=lambda _: mine)
    app = Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=alchemy(tmp_path)))], stores=registry)
    assert app.stores.get("cache") is mine  # the user's registry and its factory decide


def test_the_users_explicit_settings_win(tmp_path: Path) -> None:
    own_cache_plugin = CachePlugin(CachePluginConfig(namespace="mine"))
    own_provider = Provide(lambda: "the user's", sync_to_thread=False)
    app = Litestar(
        plugins=[
            AlchemyKitPlugin(
                AlchemyKitConfig(
                    alchemy=alchemy(tmp_path),
                    cache=CachePluginConfig(namespace="kits"),
                    services={"topics": ServiceDependency(TopicService)},
                )
            ),
            own_cache_plugin,
        ],
        dependencies={"topics": own_provider},
    )
    assert app.state.cache.namespace == "mine"
    assert [plugin for plugin in app.plugins.init if isinstance(plugin, CachePlugin)] == [own_cache_plugin]
    assert app.dependencies["topics"] is own_provider
    # Features that are not configured are not registered.
    assert not any(isinstance(plugin, AuthPlugin | ErrorsPlugin) for plugin in app.plugins.init)


def test_a_cache_in_the_apps_state_is_kept(tmp_path: Path) -> None:
    mine = AsyncCache(MemoryStore(), namespace="given")
    config = alchemy(tmp_path)
    app = Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=config))], state=State({"cache": mine}))
    assert app.state.cache is mine
    assert mine in bound_async_caches(config.create_session_maker()())


def test_an_apps_own_sqlalchemy_plugin_is_kept(tmp_path: Path) -> None:
    config = alchemy(tmp_path)
    own = SQLAlchemyPlugin(config=config)
    app = Litestar(plugins=[own, AlchemyKitPlugin(AlchemyKitConfig(alchemy=config))])
    assert sum(isinstance(plugin, SQLAlchemyPlugin) for plugin in app.plugins.init) == 1


def test_the_config_needs_exactly_one_database(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        AlchemyKitConfig()
    with pytest.raises(ValueError, match="exactly one of"):
        AlchemyKitConfig(alchemy=alchemy(tmp_path), connection_string="sqlite+aiosqlite://")
    with pytest.raises(ValueError, match="set it on your AA config"):
        AlchemyKitConfig(alchemy=alchemy(tmp_path), metadata=ProvidersBase.metadata)
    created = AlchemyKitConfig(connection_string="sqlite+aiosqlite://", metadata=ProvidersBase.metadata)
    [config] = created.alchemy_configs
    assert isinstance(config, SQLAlchemyAsyncConfig)
    assert config.create_all
    assert created.provider_keys.session == config.session_dependency_key


@pytest.mark.sqlite
def test_a_sync_session_maker_needs_a_store_sync_code_can_reach(tmp_path: Path) -> None:
    sync_config = SQLAlchemySyncConfig(connection_string=f"sqlite:///{tmp_path / 'sync.db'}")
    with pytest.raises(TypeError, match="RedisStore/ValkeyStore"):
        Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=sync_config))], stores={"cache": MemoryStore()})


@pytest.mark.sqlite
@pytest.mark.redis_store
def test_a_sync_session_maker_is_bound_to_a_sync_twin_of_the_store(tmp_path: Path, redis_url: str) -> None:
    from litestar.stores.redis import RedisStore

    namespace = f"lakp{uuid.uuid4().hex[:8]}"
    sync_config = SQLAlchemySyncConfig(connection_string=f"sqlite:///{tmp_path / 'sync.db'}")
    app = Litestar(
        plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=sync_config))],
        stores={"cache": RedisStore.with_client(url=redis_url, namespace=namespace)},
    )
    sync_cache = app.state["cache.sync"]
    assert isinstance(sync_cache, SyncCache)
    assert sync_cache.backend.prefix == f"{namespace}:"  # type: ignore[attr-defined]
    with sync_config.get_session() as session:
        assert sync_cache in session.info["litestar_alchemy_kit.caches"]
    sync_cache.close()


async def test_the_service_context_needs_an_explicit_scope_and_rolls_back_on_errors(tmp_path: Path) -> None:
    app = Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=alchemy(tmp_path)))])
    async with AsyncTestClient(app=app):  # creates the tables
        shared = AsyncServiceContext.from_app(app, scope=None)
        with pytest.raises(RuntimeError, match="outside its `async with` block"):
            _ = shared.session
        async with shared:
            with pytest.raises(ValueError, match="needs a tenant scope"):
                shared.service(NoteService)
        failing = AsyncServiceContext.from_app(app, scope=TenantScope("acme"))
        await failing.__aenter__()
        await failing.service(NoteService).create({"title": "never"})
        await failing.__aexit__(ZeroDivisionError, ZeroDivisionError(), None)
        async with AsyncServiceContext.from_app(app, scope=TenantScope("acme")) as context:
            notes = context.service(NoteService)
            assert await notes.count() == 0
            await notes.create({"title": "kept"})
        async with AsyncServiceContext.from_app(app, scope=TenantScope("acme")) as context:
            assert [note.tenant_id for note in await context.service(NoteService).get_many()] == ["acme"]


def _renamed_engine_key(config: SQLAlchemyAsyncConfig | SQLAlchemySyncConfig) -> None:
    """A config after a process's first has its engine under a renamed state key, which AA 1.12's lifespan misses."""
    assert config.engine_app_state_key != config.engine_dependency_key


async def test_the_engines_are_disposed_at_shutdown_even_when_aa_renamed_their_state_key(tmp_path: Path) -> None:
    SQLAlchemyAsyncConfig(connection_string="sqlite+aiosqlite://")  # takes AA's default engine key in this process
    config = alchemy(tmp_path)
    _renamed_engine_key(config)
    app = Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=config))], stores={"cache": MemoryStore()})
    async with AsyncTestClient(app=app):
        engine = config.get_engine()
        assert engine.pool.checkedin() == 1  # create_all's connection, back in the pool
    assert engine.pool.checkedin() == 0  # disposed: a fresh pool; the old one's connections closed


@pytest.mark.sqlite
@pytest.mark.redis_store
async def test_a_sync_engine_is_disposed_at_shutdown_too(tmp_path: Path, redis_url: str) -> None:
    from litestar.stores.redis import RedisStore

    SQLAlchemySyncConfig(connection_string="sqlite://")
    config = SQLAlchemySyncConfig(
        connection_string=f"sqlite:///{tmp_path / 'sync.db'}", metadata=ProvidersBase.metadata, create_all=True
    )
    _renamed_engine_key(config)
    store = RedisStore.with_client(url=redis_url, namespace=f"lakp{uuid.uuid4().hex[:8]}")
    app = Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(alchemy=config))], stores={"cache": store})
    async with AsyncTestClient(app=app):
        engine = config.get_engine()
        assert engine.pool.checkedin() == 1
    assert engine.pool.checkedin() == 0
    app.state["cache.sync"].close()
