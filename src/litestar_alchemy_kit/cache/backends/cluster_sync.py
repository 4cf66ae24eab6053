"""The sync cache on a Redis Cluster / Valkey Cluster: the twin of :mod:`~litestar_alchemy_kit.cache.backends.cluster`.

Same layout, same rules (see that module): keys grouped by slot, a node's commands in one pipeline on
one of its connections (one round trip per node; nodes asked in turn), every invalidation write
followed on that connection by ``WAIT``, any redirection or lost connection a failed call that
refreshes the slot map. Written by hand: the async backend's connections are asyncio transports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar_alchemy_kit.cache.backends._sync import SyncRedisBackend
from litestar_alchemy_kit.cache.backends.cluster import ReplicationError, check_replication
from litestar_alchemy_kit.cache.layout import ClusterLayout, key_slot
from litestar_alchemy_kit.cache.markers import MARK_SCRIPT, SETTLE_SCRIPT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ("SyncClusterBackend", "is_sync_cluster_client")


def is_sync_cluster_client(client: object) -> bool:
    """Whether ``client`` is redis-py's or valkey-py's sync cluster client."""
    kind = type(client)
    return (kind.__module__, kind.__name__) in {("redis.cluster", "RedisCluster"), ("valkey.cluster", "ValkeyCluster")}


class SyncClusterBackend(SyncRedisBackend):
    """The sync cache's backend on a ``redis.RedisCluster`` / ``valkey.ValkeyCluster`` client.

    Args:
        client: the sync cluster client.
        prefix: prepended to every key (a ``RedisStore``'s namespace and ``:``).
        layout: the slot groups (every process sharing the cluster must use the same).
        replicas: replicas that must acknowledge an invalidation write (``WAIT``), capped by those listed.
        wait_timeout: seconds ``WAIT`` may block; keep it below the cache's ``timeout``.
    """

    __slots__ = ("_refresh", "layout", "replicas", "wait_timeout")

    def __init__(
        self,
        client: Any,
        prefix: str = "",
        layout: ClusterLayout | None = None,
        *,
        replicas: int = 1,
        wait_timeout: float = 0.25,
    ) -> None:
        super().__init__(client, prefix)
        check_replication(replicas, wait_timeout)
        self.layout = layout if layout is not None else ClusterLayout()
        self.replicas = replicas
        self.wait_timeout = wait_timeout
        self._refresh = False

    def _node_client(self, node: Any) -> Any:
        if type(self.client).__module__.startswith("valkey"):
            return self.client.get_valkey_connection(node)
        return self.client.get_redis_connection(node)

    def _route(self, keys: Sequence[str]) -> tuple[dict[int, list[Any]], dict[str, tuple[Any, dict[int, list[int]]]]]:
        if self._refresh:
            self.client.nodes_manager.initialize()
            self._refresh = False
        slots: dict[int, list[Any]] = self.client.nodes_manager.slots_cache
        routes: dict[str, tuple[Any, dict[int, list[int]]]] = {}
        prefix = self.prefix
        for index, key in enumerate(keys):
            slot = key_slot((prefix + key).encode())
            nodes = slots.get(slot)
            if not nodes:
                self._refresh = True
                msg = f"cluster slot {slot} is not covered"
                raise ConnectionError(msg)
            routes.setdefault(nodes[0].name, (nodes[0], {}))[1].setdefault(slot, []).append(index)
        return slots, routes

    def _each_node(self, keys: Sequence[str], queue: Callable[[Any, list[int]], None], wait: bool) -> list[list[Any]]:
        """Per node, ``queue(pipeline, indices)`` for each slot (and ``WAIT``), one pipeline per node, in turn."""
        try:
            slots, routes = self._route(keys)
            out: list[list[Any]] = []
            for node, by_slot in routes.values():
                pipe = self._node_client(node).pipeline(transaction=False)
                for indices in by_slot.values():
                    queue(pipe, indices)
                required = min(min(self.replicas, len(slots.get(slot, ())) - 1) for slot in by_slot) if wait else 0
                if required > 0:
                    pipe.execute_command("WAIT", required, max(1, int(self.wait_timeout * 1000)))
                replies: list[Any] = pipe.execute()
                if required > 0 and int(replies[-1]) < required:
                    msg = f"{replies[-1]} of {required} replicas of {node.name} acknowledged the write"
                    raise ReplicationError(msg)  # noqa: TRY301 - caught below only to refresh the slot map
                out.append([*by_slot.values(), replies])
        except Exception:
            self._refresh = True
            raise
        return out

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """``MGET`` per slot, one pipeline per node holding some of ``keys``."""
        prefix = self.prefix
        out: list[bytes | None] = [None] * len(keys)

        def mget(pipe: Any, indices: list[int]) -> None:
            pipe.execute_command("MGET", *[prefix + keys[i] for i in indices])

        for *groups, replies in self._each_node(keys, mget, wait=False):
            for group, found in zip(groups, replies, strict=True):
                for index, value in zip(group, found, strict=True):
                    out[index] = value
        return out

    def set_many(self, items: Mapping[str, bytes]) -> None:
        """``MSET`` per slot, acknowledged by the replicas."""
        keys, values, prefix = list(items), list(items.values()), self.prefix

        def mset(pipe: Any, indices: list[int]) -> None:
            pipe.execute_command("MSET", *[part for i in indices for part in (prefix + keys[i], values[i])])

        self._each_node(keys, mset, wait=True)

    def mark_many(self, keys: Sequence[str], marker_id: str, ttl: float) -> None:
        """The marker script per slot, acknowledged by the replicas."""
        prefix, ms = self.prefix, self._ms(ttl)

        def mark(pipe: Any, indices: list[int]) -> None:
            pipe.execute_command("EVAL", MARK_SCRIPT, len(indices), *[prefix + keys[i] for i in indices], marker_id, ms)

        self._each_node(keys, mark, wait=True)

    def settle_many(self, items: Mapping[str, bytes], marker_ids: Sequence[str]) -> None:
        """The settle script per slot, acknowledged by the replicas."""
        keys, values, prefix = list(items), list(items.values()), self.prefix
        ids = " ".join(marker_ids)

        def settle(pipe: Any, indices: list[int]) -> None:
            names = [prefix + keys[i] for i in indices]
            pipe.execute_command("EVAL", SETTLE_SCRIPT, len(indices), *names, ids, *[values[i] for i in indices])

        self._each_node(list(items), settle, wait=True)
