"""The sync twin of a Litestar ``RedisStore``/``ValkeyStore``: same server, same keys.

A sync worker that shares a cache with an async app must read and write the keys the app's
store does. Litestar's stores prefix every key with their namespace (``LITESTAR:`` by default),
so a sync cache built on a bare client would live beside the app's keys, and its invalidations
would never reach the app. Built from the store itself, the sync backend uses the store's
server settings and its prefix, exactly as :func:`~litestar_alchemy_kit.cache.backends.as_async_backend` does.
"""

from __future__ import annotations

import sys
from typing import Any

from litestar_alchemy_kit.cache.backends._sync import SyncRedisBackend
from litestar_alchemy_kit.cache.backends.cluster import is_cluster_client
from litestar_alchemy_kit.cache.backends.cluster_sync import SyncClusterBackend
from litestar_alchemy_kit.cache.backends.pipelined import connection_target

__all__ = ("StoreSyncBackend", "StoreSyncClusterBackend", "sync_backend_for_store")


class StoreSyncBackend(SyncRedisBackend):
    """A :class:`SyncRedisBackend` on a client of its own, made for a store (closed with the cache)."""

    __slots__ = ()

    def close(self) -> None:
        """Close the client this backend created."""
        self.client.close()


class StoreSyncClusterBackend(SyncClusterBackend):
    """A :class:`SyncClusterBackend` on a cluster client of its own, made for a store (closed with the cache)."""

    __slots__ = ()

    def close(self) -> None:
        """Close the client this backend created."""
        self.client.close()


def _cluster_twin(client: Any, package: str, prefix: str) -> StoreSyncClusterBackend:
    """A sync cluster client on the async one's nodes, with its password and socket timeouts (no TLS)."""
    from litestar_alchemy_kit.cache.backends.cluster import cluster_credentials, cluster_timeouts  # noqa: PLC0415

    credentials = cluster_credentials(client)
    nodes = [(node.host, int(node.port)) for node in client.nodes_manager.startup_nodes.values()]
    settings: dict[str, Any] = cluster_timeouts(client)
    if credentials is not None:
        settings["password"] = credentials[-1].decode()
        if len(credentials) == 2:  # noqa: PLR2004 - username and password
            settings["username"] = credentials[0].decode()
    if package == "redis":
        from redis.cluster import ClusterNode, RedisCluster  # noqa: PLC0415 - the redis extra

        node: Any = ClusterNode  # untyped constructor
        sync_client: Any = RedisCluster(startup_nodes=[node(h, p) for h, p in nodes], **settings)
    else:
        from valkey.cluster import ClusterNode as ValkeyNode  # noqa: PLC0415 - the valkey extra
        from valkey.cluster import ValkeyCluster  # noqa: PLC0415

        valkey_node: Any = ValkeyNode
        sync_client = ValkeyCluster(startup_nodes=[valkey_node(h, p) for h, p in nodes], **settings)
    return StoreSyncClusterBackend(sync_client, prefix)


def _store_client(store: Any) -> tuple[Any, str] | None:
    """The asyncio client of a ``RedisStore``/``ValkeyStore`` and the package to build its twin with."""
    # Only when the store's module is loaded: an app without the redis/valkey extra has none of them.
    redis_stores = sys.modules.get("litestar.stores.redis")
    if redis_stores is not None and isinstance(store, redis_stores.RedisStore):
        return store._redis, "redis"  # noqa: SLF001 - the store exposes no public accessor for its client
    valkey_stores = sys.modules.get("litestar.stores.valkey")
    if valkey_stores is not None and isinstance(store, valkey_stores.ValkeyStore):
        return store._valkey, "valkey"  # noqa: SLF001
    return None


def sync_backend_for_store(store: object) -> StoreSyncBackend | StoreSyncClusterBackend | None:
    """A sync backend sharing ``store``'s keys, for a ``RedisStore``/``ValkeyStore``; ``None`` for other stores.

    Raises:
        TypeError: the store's client connects in a way a new client cannot reproduce (TLS,
            credential providers, Sentinel; a cluster client gets a sync cluster client on its nodes):
            build ``SyncRedisBackend(client, prefix)`` yourself.
    """
    found = _store_client(store)
    if found is None:
        return None
    client, package = found
    namespace_of: str | None = store.namespace  # type: ignore[attr-defined]
    if is_cluster_client(client):
        return _cluster_twin(client, package, f"{namespace_of}:" if namespace_of else "")
    target = connection_target(client)
    if target is None:
        msg = (
            f"cannot derive a sync client from the {type(store).__name__}'s client settings; pass "
            "SyncRedisBackend(client, prefix=f'{store.namespace}:') with a sync client of your own"
        )
        raise TypeError(msg)
    kwargs: dict[str, Any] = {
        "db": target["db"],
        "username": target["username"],
        "password": target["password"],
        "encoding": target["encoding"],
        "socket_connect_timeout": target["connect_timeout"],
        "socket_timeout": client.connection_pool.connection_kwargs.get("socket_timeout"),
    }
    if "path" in target:
        kwargs["unix_socket_path"] = target["path"]
    else:
        kwargs["host"], kwargs["port"] = target["host"], target["port"]
    # No client-side retries: a sync call cannot be cancelled, so the socket timeout is what bounds it, and the
    # cache retries undelivered writes itself. redis-py 8 retries a timed-out command 10 times by default (a
    # 0.2 s socket timeout became a 12 s block on a hung server); a client made ``from_url`` does not retry.
    if package == "redis":
        from redis import Redis  # noqa: PLC0415 - the redis extra, only for a RedisStore
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        sync_client: Any = Redis(**kwargs, retry=Retry(NoBackoff(), 0))
    else:
        from valkey import Valkey  # noqa: PLC0415 - the valkey extra, only for a ValkeyStore
        from valkey.backoff import NoBackoff as ValkeyNoBackoff  # noqa: PLC0415
        from valkey.retry import Retry as ValkeyRetry  # noqa: PLC0415

        sync_client = Valkey(**kwargs, retry=ValkeyRetry(ValkeyNoBackoff(), 0))
    namespace: str | None = store.namespace  # type: ignore[attr-defined]
    return StoreSyncBackend(sync_client, f"{namespace}:" if namespace else "")
