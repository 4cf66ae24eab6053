"""Fixtures of the repository tests: a database with the test tables, and caches on one store.

``cache_store`` is parametrized over an in-process store, Redis and Valkey (network stores:
separate clients, one round trip per hit), and Redis Cluster and Valkey Cluster. Every scenario
runs on every engine of the matrix with the first three; on each cluster it runs on one engine per
form, the async scenarios on aiosqlite and their generated sync twins on SQLite: what a cluster
changes is the store's side (its async and sync backends), which the engines do not vary, and the
whole engine matrix on two more stores would cost the suite's time budget for nothing new. For the
same reason the :data:`DATABASE_SIDE` modules run on the in-process store and Redis only, and the
review modules of :data:`VALKEY_ON_ONE_ENGINE` on Valkey as on the clusters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from tests._backends import CLUSTERS
from tests.conftest import PATIENT, _memory_backend, _server_backend, cluster_backend
from tests.integration.repository import _tables, _txharness

CACHE_STORES = ("memory_store", "redis_store", "valkey_store", *CLUSTERS)
CLUSTER_ENGINES = frozenset({"aiosqlite", "sqlite"})
"""The engines the scenarios run on with a cluster store (the async scenarios on one, their sync twins on the other)."""


DATABASE_SIDE = frozenset(
    {
        "test_databases_async.py",
        "test_databases_sync.py",
        "test_durable_async.py",
        "test_durable_sync.py",
        "test_enginecommit_async.py",
        "test_enginecommit_sync.py",
        "test_function_dependencies.py",
        "test_hidden_dependencies.py",
        "test_shapes_async.py",
        "test_shapes_sync.py",
        "test_spellings_async.py",
        "test_spellings_sync.py",
        "test_twophase_async.py",
        "test_twophase_sync.py",
    }
)
"""Modules whose scenarios vary the database's side alone (write routing, durable writes, how an engine connection
commits, table spellings, statement shapes, function bodies, views, cascades and triggers, prepared transactions): they
run on the in-process store and Redis, whose delivery code (markers, settles, bumps) every other scenario runs on
Valkey and the clusters too."""
DATABASE_SIDE_TESTS = frozenset(
    {
        "test_raw_writes_invalidate",
        "test_writes_in_flush_events_invalidate",
    }
)
"""Scenarios of the safety modules that vary only how a write reaches the database (twenty raw-SQL forms, writes from
flush events): like :data:`DATABASE_SIDE`, on the in-process store and Redis (the suite's 15-minute budget)."""
NETWORK_ONLY = frozenset({"valkey_store", *CLUSTERS})
VALKEY_ON_ONE_ENGINE = frozenset(
    {"test_edges_async.py", "test_edges_sync.py", "test_safety_async.py", "test_safety_sync.py"}
)
"""Review scenarios (safety holes, adversarial edges) that run on Valkey as the clusters do: on one engine per form
(:data:`CLUSTER_ENGINES`). Every engine runs them on the in-process store and Redis; Valkey's client runs every
invariant and tenant scenario on every engine (the issue's matrix), and these on SQLite (the suite's 15-minute budget)."""


REDIS_ON_FILE_ENGINES = frozenset(
    {
        "test_edges_async.py",
        "test_edges_sync.py",
        "test_function_dependencies.py",
        "test_hidden_dependencies.py",
        "test_hidden_writes_more.py",
        "test_partition_review18.py",
        "test_relationship_review19.py",
        "test_safety_async.py",
        "test_safety_sync.py",
        "test_shapes_async.py",
        "test_shapes_sync.py",
        "test_spellings_async.py",
        "test_spellings_sync.py",
    }
)
"""Review scenarios whose subject is what a statement reads or writes (its analysis, keys, tags, spellings), which no
store sees: every engine runs them on the in-process store, Redis on SQLite's engines (:data:`CLUSTER_ENGINES`), as
Valkey and the clusters. A store's delivery (markers, settles, bumps, their timing against each engine's commit) runs
on every engine in the invariant and tenant scenarios, the durable, two-phase, engine-commit and race modules (the
suite's 15-minute budget: these runs were 12% of it)."""


CONTROL_MATRICES = frozenset(
    {
        "test_relationship_reads_after_child_and_link_writes",
        "test_adjacency_list",
        "test_on_update_cascade_moves_children_between_tenants",
    }
)
"""Review 19's passing controls (relationship reads against child and link writes, an adjacency list, ON UPDATE
CASCADE moving children between tenants): on SQLite and PostgreSQL with the in-process store (:data:`CONTROL_RUNS`),
the suite's 15-minute budget being what it is."""
CONTROL_RUNS = frozenset({("aiosqlite", "memory_store"), ("asyncpg", "memory_store")})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect cluster runs (and Valkey runs of :data:`VALKEY_ON_ONE_ENGINE`) on engines other than
    :data:`CLUSTER_ENGINES`, :data:`DATABASE_SIDE` modules' runs on Valkey and the clusters (see the module docstring),
    :data:`CONTROL_MATRICES`' runs but :data:`CONTROL_RUNS`, and :data:`REDIS_ON_FILE_ENGINES`' Redis runs on
    other engines."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        engine = params.get("async_engine", params.get("sync_engine"))
        store = params.get("cache_store")
        one_engine = store in CLUSTERS or (store == "valkey_store" and item.path.name in VALKEY_ON_ONE_ENGINE)
        name = getattr(item, "originalname", None)
        if (
            (one_engine and engine is not None and engine not in CLUSTER_ENGINES)
            or (store in NETWORK_ONLY and (item.path.name in DATABASE_SIDE or name in DATABASE_SIDE_TESTS))
            or (name in CONTROL_MATRICES and (engine, store) not in CONTROL_RUNS)
            or (
                store == "redis_store"
                and engine is not None
                and engine not in CLUSTER_ENGINES
                and item.path.name in REDIS_ON_FILE_ENGINES
            )
        ):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@dataclasses.dataclass
class Env:
    """What a scenario needs: sessions on the test database and caches sharing one store.

    Attributes:
        sessionmaker: makes sessions (``expire_on_commit=False``) on the test database.
        make_cache: a new cache with a client of its own, on the same store and namespace.
        engine: the matrix name of the engine.
        engine_object: the engine itself.
    """

    sessionmaker: Any
    make_cache: Callable[[], Any]
    engine: str
    engine_object: Any

    def bound(self, cache: Any) -> Any:
        """A session factory whose sessions invalidate ``cache`` on commit (as an application binds it)."""
        from litestar_alchemy_kit.repository import bind_cache

        factory = type(self.sessionmaker)(self.engine_object, expire_on_commit=False)
        bind_cache(factory, cache)
        return factory


@pytest.fixture(
    params=[
        pytest.param(name, id=name, marks=[getattr(pytest.mark, name), pytest.mark.integration])
        for name in CACHE_STORES
    ]
)
def cache_store(request: pytest.FixtureRequest) -> str:
    if request.param in CLUSTERS:
        request.getfixturevalue(request.param)
    elif request.param != "memory_store":
        request.getfixturevalue("redis_url" if request.param == "redis_store" else "valkey_url")
    return str(request.param)


@pytest.fixture(scope="session")
def second_database() -> Iterator[Callable[[URL], URL]]:
    """``make(url)``: the URL of another database next to ``url``'s, with no tables (created once per process)."""
    created: dict[tuple[str, str | None], URL] = {}  # one per server and database, whatever the driver

    def make(url: URL) -> URL:
        if url.get_backend_name() in {"sqlite", "duckdb"}:
            return url.set(database=f"{url.database}.b")
        other = url.set(database=f"{url.database}b")
        if (url.get_backend_name(), other.database) not in created:
            _admin(url, f"CREATE DATABASE {_quoted(url, other.database)}")
            created[url.get_backend_name(), other.database] = other
        return other

    yield make
    for url in created.values():
        with contextlib.suppress(Exception):
            _admin(url, f"DROP DATABASE IF EXISTS {_quoted(url, url.database)}")


def _quoted(url: URL, name: str | None) -> str:
    return f'"{name}"' if url.get_backend_name() == "postgresql" else f"`{name}`"


def _admin(url: URL, statement: str) -> None:
    """Run ``statement`` outside a transaction, connected to the server of ``url`` (not to its database)."""
    if url.get_backend_name() == "postgresql":
        engine = create_engine(
            url.set(drivername="postgresql+psycopg", database="postgres"), isolation_level="AUTOCOMMIT"
        )
    else:
        engine = create_engine(url.set(drivername="mysql+pymysql", database=None), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _namespace() -> str:
    return f"lakrepo{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def async_env(async_engine: AsyncEngine, cache_store: str, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    from litestar_alchemy_kit.cache import AsyncCache

    _tables.seed(async_engine.sync_engine)
    async with async_engine.begin() as conn:
        await conn.run_sync(_tables.prepare)
    namespace = _namespace()
    caches: list[Any] = []
    # the matrix's own store factories: one MemoryStore per namespace, a new client per Redis/Valkey store
    if cache_store == "memory_store":
        backend = _memory_backend()
    elif cache_store in CLUSTERS:
        backend = cluster_backend(cache_store, request.getfixturevalue(cache_store))
    else:
        backend = _server_backend(cache_store, request.getfixturevalue(cache_store.replace("_store", "_url")))

    def make_cache() -> Any:
        caches.append(AsyncCache(backend.make(namespace), namespace=namespace, options=PATIENT))
        return caches[-1]

    yield Env(
        async_sessionmaker(async_engine, expire_on_commit=False),
        make_cache,
        request.node.callspec.params["async_engine"],
        async_engine,
    )
    for cache in caches:
        with contextlib.suppress(Exception):
            await cache.close()
    await backend.aclose()
    async with async_engine.begin() as conn:
        await conn.run_sync(_tables.release)


@pytest.fixture
def sync_env(sync_engine: Engine, cache_store: str, request: pytest.FixtureRequest) -> Iterator[Env]:
    from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend

    _tables.seed(sync_engine)
    with sync_engine.begin() as conn:
        _tables.prepare(conn)
    namespace = _namespace()
    clients: list[Any] = []
    caches: list[Any] = []
    if cache_store == "memory_store":
        shared = SyncMemoryBackend()

        def make_cache() -> Any:
            caches.append(SyncCache(shared, namespace=namespace))
            return caches[-1]
    elif cache_store in CLUSTERS:
        if cache_store == "redis_cluster":
            from redis.cluster import RedisCluster as ClusterClient
        else:
            from valkey.cluster import ValkeyCluster as ClusterClient
        host, port = request.getfixturevalue(cache_store).startup[0]

        def make_cache() -> Any:
            client = ClusterClient(host=host, port=port)
            clients.append(client)
            caches.append(SyncCache(client, namespace=namespace, options=PATIENT))
            return caches[-1]
    else:
        if cache_store == "redis_store":
            from redis import Redis as Client
        else:
            from valkey import Valkey as Client

        url = request.getfixturevalue("redis_url" if cache_store == "redis_store" else "valkey_url")

        def make_cache() -> Any:
            client = Client.from_url(url)
            clients.append(client)
            caches.append(SyncCache(client, namespace=namespace))
            return caches[-1]

    yield Env(
        sessionmaker(sync_engine, expire_on_commit=False),
        make_cache,
        request.node.callspec.params["sync_engine"],
        sync_engine,
    )
    for cache in caches:
        with contextlib.suppress(Exception):
            cache.close()
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()
    with sync_engine.begin() as conn:
        _tables.release(conn)


@pytest.fixture
def hidden(sync_env: Env) -> Iterator[Env]:
    """``sync_env`` with the hidden-dependency tables and views (``test_hidden_dependencies``), dropped after."""
    from tests.integration.repository.test_hidden_dependencies import hidden_tables

    with hidden_tables(sync_env) as env:
        yield env


# The transaction scenarios' harness (reviews 21, 22): each module names its table as ``M`` (_txharness.models).
@pytest.fixture
def senv(sync_engine: Engine, request: pytest.FixtureRequest) -> Iterator[_txharness.SyncEnv]:
    """The requesting module's ``M`` (``_txharness.models``) on the matrix's sync engine."""
    yield from _txharness.sync_env(sync_engine, request.node.callspec.params["sync_engine"], request.module.M)


@pytest.fixture
async def aenv(async_engine: AsyncEngine, request: pytest.FixtureRequest) -> AsyncIterator[_txharness.AsyncEnv]:
    """The requesting module's ``M`` (``_txharness.models``) on the matrix's async engine."""
    async for env in _txharness.async_env(async_engine, request.node.callspec.params["async_engine"], request.module.M):
        yield env
