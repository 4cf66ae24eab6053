"""Fixtures of the cache tests: sync backends, and servers a test may pause or stop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from litestar_alchemy_kit.cache import SyncCacheBackend, SyncMemoryBackend, SyncRedisBackend
from tests.integration.cache._servers import OwnCluster, OwnServer

SYNC_BACKENDS = ("memory_store", "redis_store", "valkey_store")


@pytest.fixture(
    params=[
        pytest.param(name, id=f"sync-{name}", marks=[getattr(pytest.mark, name), pytest.mark.integration])
        for name in SYNC_BACKENDS
    ]
)
def sync_backend_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], SyncCacheBackend]]:
    """Builds sync backends that share one store; each Redis/Valkey backend has its own client."""
    name: str = request.param
    clients: list[Any] = []
    if name == "memory_store":
        shared = SyncMemoryBackend()
        yield lambda: shared
        return
    if name == "redis_store":
        import redis

        url: str = request.getfixturevalue("redis_url")
        make_client: Callable[[], Any] = lambda: redis.Redis.from_url(url, socket_timeout=2)  # noqa: E731
    else:
        import valkey

        url = request.getfixturevalue("valkey_url")
        make_client = lambda: valkey.Valkey.from_url(url, socket_timeout=2)  # noqa: E731

    def factory() -> SyncCacheBackend:
        client = make_client()
        clients.append(client)
        return SyncRedisBackend(client)

    yield factory
    for client in clients:
        client.close()


@pytest.fixture(
    params=[
        pytest.param("redis", marks=[pytest.mark.redis_store, pytest.mark.integration]),
        pytest.param("valkey", marks=[pytest.mark.valkey_store, pytest.mark.integration]),
    ]
)
def own_server(request: pytest.FixtureRequest) -> Iterator[OwnServer]:
    """A private Redis or Valkey server the test may pause, stop and restart."""
    server = OwnServer(request.param).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(
    params=[
        pytest.param("redis", marks=[pytest.mark.redis_store, pytest.mark.integration]),
        pytest.param("valkey", marks=[pytest.mark.valkey_store, pytest.mark.integration]),
        pytest.param("redis_cluster", marks=[pytest.mark.redis_cluster, pytest.mark.integration]),
        pytest.param("valkey_cluster", marks=[pytest.mark.valkey_cluster, pytest.mark.integration]),
    ]
)
def fault_target(request: pytest.FixtureRequest) -> Iterator[OwnServer | OwnCluster]:
    """A private server, or a private cluster whose faults hit the master of the ``users`` tag, to pause and stop."""
    name: str = request.param
    target: OwnServer | OwnCluster
    if name.endswith("_cluster"):
        kind = name.removesuffix("_cluster")
        cluster = request.getfixturevalue("own_clusters").take(kind)
        try:
            target = OwnCluster(kind, cluster)
        except BaseException:
            cluster.stop()
            raise
    else:
        target = OwnServer(name).start()
    try:
        yield target
    finally:
        target.close()
