"""The cache on a Redis Cluster / Valkey Cluster (async): per-node pipelined connections, writes a replica acknowledged.

Keys are laid out by a :class:`~litestar_alchemy_kit.cache.layout.ClusterLayout` (the cache asks for it
through :class:`~litestar_alchemy_kit.cache.backends.ClusteredBackend`), so a one-table hit is one ``MGET``
of one slot. The backend keeps the pipelined read path of
:class:`~litestar_alchemy_kit.cache.backends.PipelinedRedisBackend`, one connection per master and
event loop: keys are grouped by slot, a node's commands are written back to back (one round trip per
node) and the nodes are asked concurrently. The slot map is the cluster client's own; the client also
carries every single-key write (``set``, ``add``, ``delete``), version initialisation and ``clear``.

Rules that keep reads exact across failover and resharding:

* a redirection (``MOVED``, ``ASK``), ``TRYAGAIN``, ``CLUSTERDOWN`` or a lost connection fails the
  call (a read becomes a miss, a write is retried by the cache) and refreshes the slot map before the
  next call; nothing is read from a node that does not own the slot, so no value is ever stale;
* every invalidation write (bump, marker, settle) is followed on the same connection by ``WAIT``:
  it counts as delivered only once ``replicas`` replicas of that master hold it (or as many as the
  slot map lists, when fewer), so a replica promoted after a master dies already has it. A write not
  acknowledged within ``wait_timeout`` is undelivered: the cache retries it and, under a commit
  policy, refuses or bounds the commit exactly as for a store outage.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from litestar_alchemy_kit.cache._runtime import async_timeout
from litestar_alchemy_kit.cache.backends._async import AsyncRedisBackend
from litestar_alchemy_kit.cache.backends.capabilities import StoreFullError
from litestar_alchemy_kit.cache.backends.pipelined import (  # pyright: ignore[reportPrivateUsage]
    RespError,
    _Protocol,  # pyright: ignore[reportPrivateUsage]
    _sha,  # pyright: ignore[reportPrivateUsage]
    close_with_loop,
    pack,
)
from litestar_alchemy_kit.cache.layout import ClusterLayout, key_slot
from litestar_alchemy_kit.cache.markers import MARK_SCRIPT, SETTLE_SCRIPT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ("AsyncClusterBackend", "ReplicationError", "cluster_credentials", "cluster_timeouts", "is_cluster_client")

_Address = tuple[str, int]
_REDIRECTS = ("MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN")


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class ReplicationError(Exception):
    """A write the master took but fewer replicas than required acknowledged in time (``WAIT``)."""


def check_replication(replicas: int, wait_timeout: float) -> None:
    """Refuse settings no ``WAIT`` can honour (shared by the async and sync cluster backends)."""
    if replicas < 0 or wait_timeout <= 0:
        msg = f"cluster backend needs replicas >= 0 and wait_timeout > 0, got {replicas!r} and {wait_timeout!r}"
        raise ValueError(msg)


def is_cluster_client(client: object) -> bool:
    """Whether ``client`` is redis-py's or valkey-py's asyncio cluster client."""
    kind = type(client)
    return (kind.__module__, kind.__name__) in {
        ("redis.asyncio.cluster", "RedisCluster"),
        ("valkey.asyncio.cluster", "ValkeyCluster"),
    }


def _node_settings(client: Any) -> tuple[dict[str, Any], str]:
    """The connection settings and connection class name the cluster client opens its node connections with."""
    nodes = list(client.nodes_manager.nodes_cache.values()) or list(client.nodes_manager.startup_nodes.values())
    if not nodes:
        return {}, ""
    return dict(nodes[0].connection_kwargs), nodes[0].connection_class.__name__


def cluster_timeouts(client: Any) -> dict[str, Any]:
    """``socket_timeout`` and ``socket_connect_timeout`` of the client's node connections.

    A sync twin keeps them: sync calls cannot be cancelled, so the socket timeout is what bounds them.
    """
    kwargs = _node_settings(client)[0]
    return {name: kwargs.get(name) for name in ("socket_timeout", "socket_connect_timeout")}


def cluster_credentials(client: Any) -> list[bytes] | None:
    """``AUTH`` arguments like the client's node connections use, or ``None`` without a password.

    Raises:
        TypeError: for connection settings a plain TCP connection cannot reproduce (TLS, credential providers).
    """
    kwargs, connection_class = _node_settings(client)
    if kwargs.get("credential_provider") is not None or "ssl" in connection_class.lower():
        msg = "the cache's cluster backend supports plain TCP nodes (with a password), not TLS or credential providers"
        raise TypeError(msg)
    password = kwargs.get("password")
    if password is None:
        return None
    username = kwargs.get("username")
    return [str(username).encode(), str(password).encode()] if username else [str(password).encode()]


class AsyncClusterBackend(AsyncRedisBackend):
    """The cache's backend on an asyncio ``RedisCluster`` / ``ValkeyCluster`` client.

    Args:
        client: the cluster client (its slot map routes every key; single-key writes go through it).
        prefix: prepended to every key (a ``RedisStore``'s namespace and ``:``).
        layout: the slot groups (every process sharing the cluster must use the same).
        replicas: replicas that must acknowledge an invalidation write (``WAIT``), capped by the replicas
            the slot map lists for the master; 0 turns the wait off (a failover may then lose a bump).
        wait_timeout: seconds ``WAIT`` may block; keep it below the cache's ``timeout``.
        refresh_every: seconds after which the slot map is read again in the background (a replica that
            joined is waited for from then on); it is also read again after every failed call.
    """

    __slots__ = (
        "_auth",
        "_connecting",
        "_conns",
        "_pid",
        "_refresh",
        "_refreshed",
        "_refreshing",
        "layout",
        "refresh_every",
        "replicas",
        "wait_timeout",
    )

    def __init__(
        self,
        client: Any,
        prefix: str = "",
        layout: ClusterLayout | None = None,
        *,
        replicas: int = 1,
        wait_timeout: float = 0.25,
        refresh_every: float = 5.0,
    ) -> None:
        super().__init__(client, prefix)
        check_replication(replicas, wait_timeout)
        self.layout = layout if layout is not None else ClusterLayout()
        self.replicas = replicas
        self.wait_timeout = wait_timeout
        self._auth = cluster_credentials(client)
        self._conns: dict[asyncio.AbstractEventLoop, dict[_Address, _Protocol]] = {}
        self._connecting: dict[tuple[asyncio.AbstractEventLoop, _Address], asyncio.Future[_Protocol]] = {}
        self._refresh = True  # the slot map is read (the client initialised) before the first call
        self.refresh_every = refresh_every
        self._refreshed = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._pid = os.getpid()

    # --- routing -------------------------------------------------------------------------------

    async def _topology(self) -> dict[int, list[Any]]:
        if self._refresh:
            # Every caller waits for a map (concurrent first callers too: the clients serialise initialisation
            # under their own lock); the flag clears only once one is read.
            if not self.client.nodes_manager.slots_cache:
                await self.client.initialize()
            else:
                await self.client.nodes_manager.initialize()
            self._refresh = False
            self._refreshed = time.monotonic()
        elif time.monotonic() - self._refreshed > self.refresh_every and self._refreshing is None:
            # Periodically, off the caller's path: replicas joining or leaving change what a write waits for.
            self._refreshed = time.monotonic()
            self._refreshing = asyncio.get_running_loop().create_task(self._background_refresh())
        slots: dict[int, list[Any]] = self.client.nodes_manager.slots_cache
        return slots

    async def _background_refresh(self) -> None:
        try:
            await self.client.nodes_manager.initialize()
        except Exception:  # noqa: BLE001 - the next failed call asks again
            self._refresh = True
        finally:
            self._refreshing = None

    def _route(self, keys: Sequence[bytes], slots: dict[int, list[Any]]) -> dict[_Address, dict[int, list[int]]]:
        """Node address -> slot -> indices of ``keys``."""
        routes: dict[_Address, dict[int, list[int]]] = {}
        for index, key in enumerate(keys):
            slot = key_slot(key)
            nodes = slots.get(slot)
            if not nodes:
                self._refresh = True
                msg = f"cluster slot {slot} is not covered"
                raise ConnectionError(msg)
            primary = nodes[0]
            routes.setdefault((primary.host, int(primary.port)), {}).setdefault(slot, []).append(index)
        return routes

    def _required(self, slots: dict[int, list[Any]], slot: int) -> int:
        """Replicas a write to ``slot`` waits for: ``replicas``, at most those the slot map lists."""
        return min(self.replicas, len(slots.get(slot, ())) - 1)

    def _failed(self, exc: BaseException) -> None:
        """After any failure, read the slot map again before the next call (a failover or a migration)."""
        self._refresh = True
        if isinstance(exc, RespError) and str(exc).startswith("OOM "):
            raise StoreFullError(str(exc)) from exc

    # --- connections ---------------------------------------------------------------------------

    async def _conn(self, address: _Address) -> _Protocol:
        loop = asyncio.get_running_loop()
        if os.getpid() != self._pid:  # a forked child: the parent owns the inherited connections
            self._pid = os.getpid()
            self._conns.clear()
            self._connecting.clear()
        conns = self._conns.setdefault(loop, {})
        protocol = conns.get(address)
        if protocol is not None and protocol.transport is not None:
            return protocol
        pending = self._connecting.get((loop, address))
        if pending is not None and not pending.done():
            return await asyncio.shield(pending)
        future: asyncio.Future[_Protocol] = loop.create_future()
        self._connecting[loop, address] = future
        try:
            _, protocol = await loop.create_connection(_Protocol, *address)
            try:
                replies: list[asyncio.Future[Any]] = []
                if self._auth is not None:
                    replies.append(protocol.send(pack(b"AUTH", *self._auth)))
                # Loaded once per connection: EVALSHA then never meets NOSCRIPT (a SCRIPT FLUSH fails one call).
                replies.extend(
                    protocol.send(pack(b"SCRIPT", b"LOAD", s.encode())) for s in (MARK_SCRIPT, SETTLE_SCRIPT)
                )
                for reply in replies:
                    await reply
            except BaseException:
                protocol.abort(ConnectionError("redis handshake failed"))
                raise
            await close_with_loop(protocol)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("connect cancelled"))
            future.exception()
            raise
        finally:
            if self._connecting.get((loop, address)) is future:
                del self._connecting[loop, address]
        conns[address] = protocol
        future.set_result(protocol)
        return protocol

    async def _node_call(self, address: _Address, commands: list[bytes], timeout: float | None) -> list[Any]:
        """Write ``commands`` to one node back to back (one round trip) and return their replies in order."""
        protocol = await self._conn(address)
        replies = [protocol.send(command, timeout) for command in commands]
        try:
            # in order: each reply resolves no earlier than those written before it on the connection
            return [await reply for reply in replies]
        except BaseException:
            for reply in replies:  # the failure of the replies after it is known: nobody waits for them
                reply.add_done_callback(_retrieved)
            raise

    # --- reads ---------------------------------------------------------------------------------

    def _keys(self, keys: Sequence[str]) -> list[bytes]:
        prefix = self.prefix
        return [(prefix + key).encode() for key in keys]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """``MGET`` per slot: one round trip per node holding some of ``keys``, all nodes at once."""
        return await self.get_many_within(keys, None)

    async def get_many_within(self, keys: Sequence[str], timeout: float | None) -> list[bytes | None]:
        """:meth:`get_many` giving up after ``timeout`` seconds (``TimeoutError``).

        A read on open connections bounds each reply by the connection's own deadline timer (no timeout
        scope per call); one that must connect or read the slot map first is bounded as a whole.
        """
        fast = self._fast_path(keys)
        if fast is not None:
            try:
                values: list[bytes | None] = await fast.send(pack(b"MGET", *self._keys(keys)), timeout)
            except Exception as exc:
                self._failed(exc)
                raise
            return values
        if timeout is None:
            return await self._mget(keys, None)
        async with async_timeout(timeout):
            return await self._mget(keys, timeout)

    def _fast_path(self, keys: Sequence[str]) -> _Protocol | None:
        """The open connection to the one node holding every key of ``keys`` in one slot, if there is one.

        The common hit (one table's versions and the entry beside them) skips routing tables and task switches.
        """
        if self._refresh or time.monotonic() - self._refreshed > self.refresh_every:
            return None
        prefix = self.prefix
        slot = key_slot((prefix + keys[0]).encode())
        for key in keys[1:]:
            if key_slot((prefix + key).encode()) != slot:
                return None
        nodes = self.client.nodes_manager.slots_cache.get(slot)
        conns = self._conns.get(asyncio.get_running_loop())
        if not nodes or conns is None:
            return None
        protocol = conns.get((nodes[0].host, int(nodes[0].port)))
        return protocol if protocol is not None and protocol.transport is not None else None

    async def _mget(self, keys: Sequence[str], timeout: float | None) -> list[bytes | None]:
        try:
            slots = await self._topology()
            encoded = self._keys(keys)
            routes = self._route(encoded, slots)
            if len(routes) == 1:
                ((address, by_slot),) = routes.items()
                if len(by_slot) == 1:  # one slot, one MGET, values already in order
                    values: list[bytes | None] = (await self._node_call(address, [pack(b"MGET", *encoded)], timeout))[0]
                    return values
            out: list[bytes | None] = [None] * len(keys)

            async def node(address: _Address, by_slot: dict[int, list[int]]) -> None:
                groups = list(by_slot.values())
                commands = [pack(b"MGET", *[encoded[i] for i in group]) for group in groups]
                for group, found in zip(groups, await self._node_call(address, commands, timeout), strict=True):
                    for index, value in zip(group, found, strict=True):
                        out[index] = value

            await asyncio.gather(*(node(address, by_slot) for address, by_slot in routes.items()))
        except Exception as exc:
            self._failed(exc)
            raise
        return out

    # --- invalidation writes -------------------------------------------------------------------

    async def _write(self, keys: Sequence[str], command: Any) -> None:
        """Per node, ``command(slot_indices)`` for each slot then ``WAIT``; all nodes at once.

        Raises:
            ReplicationError: a node's replicas did not acknowledge the writes within ``wait_timeout``.
        """
        try:
            slots = await self._topology()
            encoded = self._keys(keys)
            routes = self._route(encoded, slots)

            async def node(address: _Address, by_slot: dict[int, list[int]]) -> None:
                commands = [command(encoded, indices) for indices in by_slot.values()]
                required = min(self._required(slots, slot) for slot in by_slot)
                if required > 0:
                    commands.append(pack(b"WAIT", b"%d" % required, b"%d" % max(1, int(self.wait_timeout * 1000))))
                replies = await self._node_call(address, commands, None)
                if required > 0 and int(replies[-1]) < required:
                    msg = f"{replies[-1]} of {required} replicas of {address[0]}:{address[1]} acknowledged the write"
                    raise ReplicationError(msg)  # noqa: TRY301 - caught below only to refresh the slot map

            await asyncio.gather(*(node(address, by_slot) for address, by_slot in routes.items()))
        except Exception as exc:
            self._failed(exc)
            raise

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        """``MSET`` per slot, acknowledged by the replicas (a bump without a commit policy)."""
        values = list(items.values())

        def mset(encoded: list[bytes], indices: list[int]) -> bytes:
            parts = [b"MSET"]
            for index in indices:
                parts += [encoded[index], values[index]]
            return pack(*parts)

        await self._write(list(items), mset)

    async def mark_many(self, keys: Sequence[str], marker_id: str, ttl: float) -> None:
        """The marker script per slot, acknowledged by the replicas."""
        args = [marker_id.encode(), str(self._ms(ttl)).encode()]

        def mark(encoded: list[bytes], indices: list[int]) -> bytes:
            return pack(b"EVALSHA", _sha(MARK_SCRIPT), b"%d" % len(indices), *[encoded[i] for i in indices], *args)

        await self._write(keys, mark)

    async def settle_many(self, items: Mapping[str, bytes], marker_ids: Sequence[str]) -> None:
        """The settle script per slot, acknowledged by the replicas."""
        values = list(items.values())
        ids = " ".join(marker_ids).encode()

        def settle(encoded: list[bytes], indices: list[int]) -> bytes:
            return pack(
                b"EVALSHA",
                _sha(SETTLE_SCRIPT),
                b"%d" % len(indices),
                *[encoded[i] for i in indices],
                ids,
                *[values[i] for i in indices],
            )

        await self._write(list(items), settle)

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        """``SET NX`` then ``GET`` of each key through the client's cluster pipeline (first use of a version)."""
        try:
            return await super().init_many(items)
        except Exception as exc:
            self._failed(exc)
            raise

    async def aclose(self) -> None:
        """Close this backend's node connections, of every event loop (the client is the caller's to close)."""
        for conns in self._conns.values():
            for protocol in conns.values():
                transport = protocol.transport
                if transport is not None:
                    transport.close()
        self._conns.clear()
