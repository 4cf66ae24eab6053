"""The one plugin that composes the kit: database, cache, providers, auth, errors, response cache, CLI.

Every feature stays usable alone (each is its own plugin); this one wires them together so a
user never does it by hand: it creates the cache on a named store when the app is built (so it
exists before the first request and in CLI commands), binds it to every Advanced Alchemy session
maker, registers the feature plugins that are configured, the services' providers under the
dependency keys the other features use, the response cache on that same cache (so commits
invalidate responses) keyed by the auth feature's caller, and the ``litestar cache`` commands; and,
when asked (:class:`OutboxConfig`), the invalidation outbox: its table in the app's metadata, attached to the
app's caches, drained once the app has started (after Advanced Alchemy's ``create_all``) and then every
``drain_interval``, by lifespan tasks that stop before the caches close.
"""

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
    SQLAlchemySyncConfig,
)
from advanced_alchemy.extensions.litestar.plugins.init.plugin import SQLAlchemyInitPlugin
from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.plugins import CLIPlugin, InitPlugin
from litestar.stores.registry import StoreRegistry
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from litestar_alchemy_kit.auth import AuthConfig, AuthPlugin
from litestar_alchemy_kit.cache import AsyncCache, CachePlugin, CachePluginConfig, SyncCache
from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.orm.outbox import DEFAULT_TABLE_NAME, InvalidationOutbox, outbox_table
from litestar_alchemy_kit.providers import ProviderKeys, ServiceDependency
from litestar_alchemy_kit.response_cache import (
    ANONYMOUS,
    Caller,
    ResponseCachePlugin,
    ResponseCachePluginConfig,
    identify_caller,
)

if TYPE_CHECKING:
    from click import Group
    from litestar import Litestar

__all__ = ("AlchemyKitConfig", "AlchemyKitPlugin", "OutboxConfig", "identify_from_auth")

AlchemyConfigs = SQLAlchemyAsyncConfig | SQLAlchemySyncConfig | Sequence[SQLAlchemyAsyncConfig | SQLAlchemySyncConfig]


def _default_cache() -> CachePluginConfig:
    return CachePluginConfig()


def _no_services() -> dict[str, ServiceDependency]:
    return {}


def _default_response_cache() -> ResponseCachePluginConfig:
    return ResponseCachePluginConfig()


@dataclass
class OutboxConfig:
    """The invalidation outbox of :class:`AlchemyKitPlugin` (see :ref:`commit-policies`)."""

    metadata: MetaData | None = None
    """The ``MetaData`` the outbox table is added to: your models' own, so that ``create_all`` and Alembic's
    autogenerate create it. ``None``: the first Advanced Alchemy config's metadata. The table is also added to
    every other config's metadata: a commit records its row in the database it writes, and every config's
    database is drained."""
    table_name: str = DEFAULT_TABLE_NAME
    """Name of the outbox table; a table of that name already in the metadata (made by ``outbox_table``) is used."""
    staleness_bound: float = 5.0
    """Seconds another process may serve data older than a commit whose writer could not reach the store; a
    process whose last complete drain began longer ago than this serves no cache hits."""
    drain_interval: float | None = None
    """Seconds between drains; ``None``: a quarter of :attr:`staleness_bound`."""

    def __post_init__(self) -> None:
        # the outbox's own checks, now rather than when the app is built
        InvalidationOutbox(outbox_table(MetaData(), self.table_name), self.staleness_bound, self.drain_interval)


def _outbox_drain(
    config: OutboxConfig, configs: Sequence[SQLAlchemyAsyncConfig | SQLAlchemySyncConfig]
) -> "_OutboxDrain":
    """The outbox on its table, drained through the engine of every config.

    The cache is bound to every config's sessions, and a commit records its row on the connection it writes
    through: so every config's database holds the table (added to each metadata unless there already) and is
    drained, and the hits wait on the drains of them all (:meth:`InvalidationOutbox.expect`).
    """
    # Advanced Alchemy's configs resolve a metadata of None to their bind key's registered one.
    metadata = config.metadata if config.metadata is not None else cast("MetaData", configs[0].metadata)
    existing = metadata.tables.get(config.table_name)
    table = existing if isinstance(existing, Table) else outbox_table(metadata, config.table_name)
    for alchemy in configs:
        other = cast("MetaData", alchemy.metadata)
        if config.table_name not in other.tables:
            outbox_table(other, config.table_name)
    return _OutboxDrain(InvalidationOutbox(table, config.staleness_bound, config.drain_interval), configs)


class _OutboxDrain:
    """Drains one outbox into the app's caches for as long as the app runs (a lifespan manager)."""

    __slots__ = ("_started", "_threads", "async_caches", "configs", "outbox", "sync_caches")

    def __init__(
        self, outbox: InvalidationOutbox, configs: Sequence[SQLAlchemyAsyncConfig | SQLAlchemySyncConfig]
    ) -> None:
        self.outbox = outbox
        self.configs = list(configs)
        self.async_caches: list[AsyncCache] = []
        self.sync_caches: list[SyncCache] = []
        self._started: asyncio.Event | None = None
        self._threads: list[threading.Thread] = []

    def attach(self, cache: AsyncCache | SyncCache) -> None:
        """Record ``cache``'s undelivered invalidations in the outbox and drain into it (no hits before the first drain)."""
        self.outbox.attach(cache)
        if isinstance(cache, AsyncCache):
            self.async_caches.append(cache)
        else:
            self.sync_caches.append(cache)

    def started(self) -> None:
        """``on_startup`` hook: the app's tables exist now, so the drains may begin."""
        if self._started is not None:
            self._started.set()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: "Litestar") -> AsyncGenerator[None, None]:
        """Drain from the end of the startup until the shutdown begins (before the caches close)."""
        del app
        self._started = started = asyncio.Event()
        for config in self.configs:  # every database before any drains: hits wait for the drains of all
            for cache in self.async_caches if isinstance(config, SQLAlchemyAsyncConfig) else self.sync_caches:
                self.outbox.expect(config.get_engine(), cache)
        tasks = [asyncio.ensure_future(self._run(started, config)) for config in self.configs]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.outbox.stop()
            for thread in self._threads:
                await asyncio.to_thread(thread.join, self.outbox.staleness_bound)
            self._threads.clear()
            self._started = None

    async def _run(self, started: asyncio.Event, config: SQLAlchemyAsyncConfig | SQLAlchemySyncConfig) -> None:
        await started.wait()
        if isinstance(config, SQLAlchemyAsyncConfig):
            engine = config.get_engine()
            await asyncio.gather(*(self.outbox.run_async(engine, cache) for cache in self.async_caches))
        else:
            sync_engine = config.get_engine()
            self._threads.extend(self.outbox.run_sync(sync_engine, cache) for cache in self.sync_caches)


Identify = Callable[[ASGIConnection[Any, Any, Any, Any]], "Caller | None"]


def identify_from_auth(auth: AuthConfig[Any, Any]) -> Identify:
    """The response cache's ``identify`` from the auth feature: the tenant and subject the providers scope by.

    A response keyed this way belongs to the very tenant the caller's tenant-scoped services read,
    and, by default, to the caller alone (their ``subject``).
    """

    def identify(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller | None:
        context = auth.context_for(connection)
        if context.is_anonymous:
            return ANONYMOUS
        return Caller(context.tenant_id, context.subject)

    return identify


@dataclass
class AlchemyKitConfig:
    """What the composed plugin sets up; leave a feature's field ``None`` to leave the feature out."""

    alchemy: AlchemyConfigs | None = None
    """Advanced Alchemy's ``SQLAlchemyPlugin`` config(s). ``None``: one is created from
    :attr:`connection_string` (an async config committing on 2xx responses). A config of yours is used as it is:
    with AA's default ``before_send_handler`` a request's session is closed without a commit, so a handler's
    writes are rolled back unless it commits (``auto_commit=True``) or the config sets
    ``before_send_handler="autocommit"``."""
    connection_string: str | None = None
    """Database URL of the config created when :attr:`alchemy` is ``None`` (an async driver, e.g.
    ``sqlite+aiosqlite:///app.db``)."""
    metadata: MetaData | None = None
    """Tables of the created config, created at startup (``create_all``); ``None``: AA's default
    metadata, not created."""
    cache: CachePluginConfig = field(default_factory=_default_cache)
    """Where the cache lives (its store name) and its namespace, options and dependency key."""
    auth: AuthConfig[Any, Any] | None = None
    """Registers :class:`~litestar_alchemy_kit.auth.AuthPlugin` with this config; ``None``: not registered
    (scoped providers then need an ``auth`` dependency of the app's own)."""
    errors: ErrorsConfig | None = None
    """Registers :class:`~litestar_alchemy_kit.errors.ErrorsPlugin` with this config; ``None``: not registered."""
    services: Mapping[str, ServiceDependency] = field(default_factory=_no_services)
    """Services provided to handlers, by dependency key (``{"notes": ServiceDependency(NoteService, scope="tenant")}``)."""
    response_cache: ResponseCachePluginConfig | None = field(default_factory=_default_response_cache)
    """Registers :class:`~litestar_alchemy_kit.response_cache.ResponseCachePlugin` with this config; ``None``:
    not registered. On by default, as Litestar's own response cache is: nothing is cached until a route
    opts in (``opt={"response_cache": ...}``). It shares the kit's cache (so every commit of the app's
    sessions invalidates responses) and, with :attr:`auth`, identifies callers by the auth context's
    tenant and subject; settings of your own here (``identify``, ``cache_state_key``) win."""
    cli: bool = True
    """Add the ``litestar cache`` commands (stats, clear, bump, audit)."""
    outbox: OutboxConfig | None = None
    """Opt in to the invalidation outbox (:ref:`commit-policies`): its table joins your metadata, a commit whose
    markers the store does not take records its invalidation there in the same transaction, and every process
    running the app drains it (after startup, then periodically). ``None``: no outbox."""

    def __post_init__(self) -> None:
        if (self.alchemy is None) == (self.connection_string is None):
            msg = "AlchemyKitConfig needs exactly one of alchemy= (AA configs) or connection_string="
            raise ValueError(msg)
        if self.alchemy is not None and self.metadata is not None:
            msg = "AlchemyKitConfig.metadata applies to the config created from connection_string: set it on your AA config"
            raise ValueError(msg)
        if self.alchemy is None and self.connection_string is not None:
            self.alchemy = SQLAlchemyAsyncConfig(
                connection_string=self.connection_string,
                metadata=self.metadata,
                create_all=self.metadata is not None,
                session_config=AsyncSessionConfig(expire_on_commit=False),
                before_send_handler="autocommit",
            )

    @property
    def alchemy_configs(self) -> list[SQLAlchemyAsyncConfig | SQLAlchemySyncConfig]:
        """The Advanced Alchemy configs, as a list."""
        configs = self.alchemy
        if isinstance(configs, SQLAlchemyAsyncConfig | SQLAlchemySyncConfig):
            return [configs]
        return list(configs or ())

    @property
    def provider_keys(self) -> ProviderKeys:
        """The dependency keys the services' providers ask for, which are those the other features register."""
        configs = self.alchemy_configs
        return ProviderKeys(
            session=configs[0].session_dependency_key if configs else "db_session",
            cache=self.cache.dependency_key,
            auth="auth" if self.auth is None else self.auth.auth_dependency_key,
        )


class AlchemyKitPlugin(InitPlugin, CLIPlugin):
    """Compose the kit in one plugin: ``Litestar(plugins=[AlchemyKitPlugin(AlchemyKitConfig(...))])``.

    Registers, unless the app registers its own (the user's explicit settings always win):
    Advanced Alchemy's ``SQLAlchemyPlugin``; the :class:`~litestar_alchemy_kit.cache.CachePlugin`,
    with the cache built now on the store registered under ``cache.store`` and bound to every
    session maker; the auth and errors plugins when configured; the services' providers and
    filters; the ``litestar cache`` commands.
    """

    __slots__ = ("config",)

    def __init__(self, config: AlchemyKitConfig) -> None:
        self.config = config

    def on_cli_init(self, cli: "Group") -> None:
        """Add the ``cache`` command group."""
        if self.config.cli:
            from litestar_alchemy_kit.cli import cache_group  # noqa: PLC0415 - click is only needed by the CLI

            cli.add_command(cache_group)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the feature plugins, build and bind the cache, and register the services."""
        config = self.config
        plugins = app_config.plugins
        # Plugins appended here are initialised by Litestar after this one (as AA's own SQLAlchemyPlugin does).
        if not any(isinstance(plugin, SQLAlchemyPlugin | SQLAlchemyInitPlugin) for plugin in plugins):
            plugins.append(SQLAlchemyPlugin(config=config.alchemy_configs))
        cache_plugin = next((plugin for plugin in plugins if isinstance(plugin, CachePlugin)), None)
        if cache_plugin is None:
            cache_plugin = CachePlugin(config.cache)
            plugins.append(cache_plugin)
        if config.auth is not None and not any(isinstance(plugin, AuthPlugin) for plugin in plugins):
            plugins.append(AuthPlugin(config.auth))
        if config.errors is not None and not any(isinstance(plugin, ErrorsPlugin) for plugin in plugins):
            plugins.append(ErrorsPlugin(config.errors))
        responses = self._register_responses(plugins, cache_plugin)

        # The registry the app will use, so the cache is built on the very store the app resolves.
        stores = cache_plugin.with_default_store(app_config.stores)
        stores = stores if isinstance(stores, StoreRegistry) else StoreRegistry(stores)
        app_config.stores = stores
        state_key = cache_plugin.config.state_key
        cache = app_config.state.get(state_key)
        if not isinstance(cache, AsyncCache):
            cache = app_config.state[state_key] = cache_plugin.create_cache(stores)
        self._bind(cache, cache_plugin, stores, app_config)
        if responses is not None and responses.cache_state_key != state_key:
            self._bind_responses(responses, stores, app_config)
        if config.outbox is not None:
            self._drain_outbox(config.outbox, cache_plugin, responses, app_config)
        # First in, so last out: after every other lifespan that could still use the engines.
        app_config.lifespan.insert(0, self._dispose_engines)  # pyright: ignore[reportUnknownMemberType]

        keys = config.provider_keys
        for key, service in config.services.items():
            for name, provider in service.dependencies(key, keys).items():
                app_config.dependencies.setdefault(name, provider)
        return app_config

    @contextlib.asynccontextmanager
    async def _dispose_engines(self, _: "Litestar") -> AsyncGenerator[None, None]:
        """Dispose the configs' engines at shutdown, which AA 1.12 skips for all but a process's first config.

        AA's lifespan looks the engine up under ``engine_dependency_key`` while the engine is stored under
        ``engine_app_state_key``, which AA renames (``db_engine_1``...) for every config after the first: their
        pooled connections then outlive the app. Disposing twice is harmless.
        """
        try:
            yield
        finally:
            for alchemy in self.config.alchemy_configs:
                engine = alchemy.engine_instance
                if isinstance(engine, AsyncEngine):
                    await engine.dispose()
                elif engine is not None:
                    engine.dispose()

    def _response_cache(
        self, response_cache: ResponseCachePluginConfig, cache_plugin: CachePlugin, auth: AuthConfig[Any, Any] | None
    ) -> ResponseCachePluginConfig:
        """The response cache's config, on the kit's cache and ``auth``'s callers unless the user set those fields."""
        defaults = ResponseCachePluginConfig()
        changes: dict[str, Any] = {}
        if response_cache.cache_state_key == defaults.cache_state_key:
            changes["cache_state_key"] = cache_plugin.config.state_key
        if response_cache.namespace == defaults.namespace:
            changes["namespace"] = cache_plugin.config.namespace
        if response_cache.identify is identify_caller and auth is not None:
            changes["identify"] = identify_from_auth(auth)
        return dataclasses.replace(response_cache, **changes) if changes else response_cache

    def _drain_outbox(
        self,
        outbox: OutboxConfig,
        cache_plugin: CachePlugin,
        responses: ResponseCachePluginConfig | None,
        app_config: AppConfig,
    ) -> None:
        """Attach the outbox to every cache bound to the sessions; drain it from the lifespan, after the user's own.

        The caches: the kit's, its sync twin and the response cache's own, each that exists.
        """
        drain = _outbox_drain(outbox, self.config.alchemy_configs)
        keys = {cache_plugin.config.state_key, cache_plugin.sync_state_key}
        if responses is not None:
            keys.add(responses.cache_state_key)
        for key in sorted(keys):
            cache = app_config.state.get(key)
            if isinstance(cache, AsyncCache | SyncCache):
                drain.attach(cache)
        app_config.lifespan.append(drain.lifespan)  # pyright: ignore[reportUnknownMemberType]
        app_config.on_startup.append(drain.started)

    def _register_responses(self, plugins: list[Any], cache_plugin: CachePlugin) -> ResponseCachePluginConfig | None:
        """Register the response cache (unless the app registered one) and return its config, or ``None``."""
        config = self.config
        if config.response_cache is None or any(isinstance(plugin, ResponseCachePlugin) for plugin in plugins):
            return None
        # the auth feature's, whether this config registers it or the app did: the callers providers scope by
        auth = config.auth or next((plugin.config for plugin in plugins if isinstance(plugin, AuthPlugin)), None)
        responses = self._response_cache(config.response_cache, cache_plugin, auth)
        plugins.append(ResponseCachePlugin(responses))
        return responses

    def _bind_responses(
        self, responses: ResponseCachePluginConfig, stores: StoreRegistry, app_config: AppConfig
    ) -> None:
        """Build the response cache's own cache, and bind it to the async session makers.

        The response cache plugin finds it in ``app.state``; every commit of those sessions invalidates its
        responses as it does the kit's cache. Sync session makers are not bound to it: bind a ``SyncCache`` on
        its store and namespace yourself.
        """
        own = app_config.state.get(responses.cache_state_key)
        if not isinstance(own, AsyncCache):
            own = AsyncCache(stores.get(responses.store), responses.namespace, responses.options)
            app_config.state[responses.cache_state_key] = own
            app_config.on_shutdown.append(own.close)
        for alchemy in self.config.alchemy_configs:
            maker = alchemy.create_session_maker()
            if isinstance(maker, async_sessionmaker):
                bind_cache(cast("async_sessionmaker[AsyncSession]", maker), own)

    def _bind(self, cache: AsyncCache, cache_plugin: CachePlugin, stores: StoreRegistry, app_config: AppConfig) -> None:
        """Bind the cache to every session maker, so every session's commits invalidate it."""
        for alchemy in self.config.alchemy_configs:
            maker = alchemy.create_session_maker()
            if isinstance(maker, async_sessionmaker):
                bind_cache(cast("async_sessionmaker[AsyncSession]", maker), cache)
            elif isinstance(maker, sessionmaker):
                sync_cache = app_config.state.get(cache_plugin.sync_state_key)
                if not isinstance(sync_cache, SyncCache):
                    sync_cache = app_config.state[cache_plugin.sync_state_key] = cache_plugin.create_sync_cache(stores)
                bind_cache(cast("sessionmaker[Session]", maker), sync_cache)
