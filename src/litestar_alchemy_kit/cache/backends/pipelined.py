"""A pipelined read connection to Redis/Valkey for the cache's hot path (async only).

redis-py/valkey-py spend most of a one-key hit in their own Python layers (pool checkout, command
packing, a stream-based reply parser): ~3x a bare loopback round trip. The cache reads through one
dedicated connection per event loop instead: each ``MGET`` is written at once and answered in
order (RESP replies are FIFO per connection), so concurrent callers pipeline on it without a lock.

Correctness rests on three rules:

* a caller that stops waiting (timeout, cancellation) only abandons its reply: the reply is still
  consumed in order and dropped, so the stream never desynchronises;
* a lost connection fails every waiting caller (they become misses) and the next call reconnects;
* a connection with replies outstanding for longer than ``stall_after`` is dropped and replaced,
  so a paused server cannot grow a backlog forever.

The writes on a request's path go through the pipelined connection too: the ``SET`` of a populate
(a miss pays for it), the script initialising absent versions, and the marker script, the settle
script and the ``MSET`` of a bump, which wait on a commit (the cache retries an undelivered bump
itself). The other writes (leases, deletes) keep going through the client (its retries and pool). A
read sent after a write returned is ordered after it by the server, whichever connection carried it,
so version checks stay exact.

A connection lives as long as its event loop: the loop's ``shutdown_asyncgens()`` (which
``asyncio.run`` and test runners call before closing it) closes it, so a cache used from several
loops in turn leaves no socket open behind a closed one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from litestar_alchemy_kit.cache._runtime import async_timeout
from litestar_alchemy_kit.cache.backends._async import AsyncRedisBackend
from litestar_alchemy_kit.cache.backends.capabilities import StoreFullError
from litestar_alchemy_kit.cache.markers import MARK_SCRIPT, SETTLE_SCRIPT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

__all__ = ("PipelinedRedisBackend", "RespError", "connection_target")

_CRLF = b"\r\n"
_INF = float("inf")
_TIMER_GRANULARITY = 0.005


class RespError(Exception):
    """An error reply from the server (``-ERR ...``), or a reply the parser does not accept."""


class _Incomplete(Exception):  # noqa: N818 - control flow, never escapes the parser
    __slots__ = ("need",)

    def __init__(self, need: int) -> None:
        self.need = need


def _parse(buf: bytes, pos: int) -> tuple[Any, int]:  # noqa: C901, PLR0911
    """One RESP2 reply starting at ``pos``: (value, next position); raises :class:`_Incomplete`."""
    end = buf.find(_CRLF, pos)
    if end < 0:
        raise _Incomplete(len(buf) + 1)
    kind = buf[pos]
    if kind == 36:  # "$" bulk string  # noqa: PLR2004
        size = int(buf[pos + 1 : end])
        if size < 0:
            return None, end + 2
        start = end + 2
        stop = start + size
        if stop + 2 > len(buf):
            raise _Incomplete(stop + 2)
        return buf[start:stop], stop + 2
    if kind == 42:  # "*" array  # noqa: PLR2004
        count = int(buf[pos + 1 : end])
        if count < 0:
            return None, end + 2
        items: list[Any] = []
        pos = end + 2
        for _ in range(count):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    if kind == 43:  # "+" simple string  # noqa: PLR2004
        return buf[pos + 1 : end], end + 2
    if kind == 58:  # ":" integer  # noqa: PLR2004
        return int(buf[pos + 1 : end]), end + 2
    if kind == 45:  # "-" error  # noqa: PLR2004
        return RespError(buf[pos + 1 : end].decode("utf-8", "replace")), end + 2
    msg = f"unexpected redis reply type byte {kind!r}"
    raise RespError(msg)


# Each key set to its argument where absent, then every key's value: SET NX and GET in one round trip.
_INIT_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i], 'NX')
  out[i] = redis.call('GET', key)
end
return out
"""


@functools.cache
def _sha(script: str) -> bytes:
    """The SHA1 digest under which the server caches ``script`` (what ``EVALSHA`` names)."""
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest().encode()


def pack(*parts: bytes) -> bytes:
    """A RESP2 command."""
    out = [b"*%d\r\n" % len(parts)]
    out.extend([b"$%d\r\n%s\r\n" % (len(part), part) for part in parts])
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    """Replies resolve waiting futures in the order their commands were written."""

    __slots__ = (
        "_chunks",
        "_need",
        "_size",
        "_timer",
        "_timer_at",
        "lost",
        "progress",
        "transport",
        "waiters",
        "watcher",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # (waiter, deadline in loop time or inf), in the order the commands were written
        self.waiters: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.lost: BaseException | None = None
        self.progress = 0.0  # monotonic time of the last reply (or of the first command after idling)
        self._chunks: list[bytes] = []
        self._size = 0
        self._need = 0
        # One timer per connection (not one per command) fails waiters past their deadline.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = _INF
        self.watcher: AsyncIterator[None] | None = None  # see close_with_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("redis connection closed")
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self.waiters:
            waiter, _ = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"redis connection lost: {self.lost!r}"))

    def data_received(self, data: bytes) -> None:
        # Any bytes are progress: a large reply arriving slowly is not a stall.
        self.progress = time.monotonic()
        if self._chunks:
            self._chunks.append(data)
            self._size += len(data)
            if self._size < self._need:
                return
            buf = b"".join(self._chunks)
            self._chunks = []
        else:
            buf = data
        pos = 0
        waiters = self.waiters
        try:
            while pos < len(buf):
                value, pos = _parse(buf, pos)
                if not waiters:
                    msg = "reply with no command waiting for it"
                    raise RespError(msg)  # noqa: TRY301
                waiter, _ = waiters.popleft()
                if not waiter.done():
                    if isinstance(value, RespError):
                        waiter.set_exception(value)
                    else:
                        waiter.set_result(value)
        except _Incomplete as incomplete:
            rest = buf[pos:]
            self._chunks = [rest]
            self._size = len(rest)
            self._need = incomplete.need - pos
        except (RespError, ValueError) as exc:
            # A reply we cannot frame: nothing after it can be trusted.
            self.abort(exc)

    def send(self, command: bytes, timeout: float | None = None) -> asyncio.Future[Any]:
        """Write ``command``; the future gets its reply, or ``TimeoutError`` after ``timeout`` seconds."""
        transport = self.transport
        if transport is None:
            msg = "redis connection closed"
            raise ConnectionError(msg)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        if not self.waiters:
            self.progress = time.monotonic()
        if timeout is None:
            self.waiters.append((waiter, _INF))
        else:
            deadline = loop.time() + timeout
            self.waiters.append((waiter, deadline))
            if deadline < self._timer_at:
                self._arm(loop, deadline)
        transport.write(command)
        return waiter

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire, loop)
        self._timer_at = when

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, _INF
        now = loop.time()
        upcoming = _INF
        for waiter, deadline in self.waiters:
            if waiter.done():
                continue
            if deadline <= now:
                # Its reply will still be read, and dropped, in order.
                waiter.set_exception(TimeoutError("redis reply timed out"))
            elif deadline < upcoming:
                upcoming = deadline
        if upcoming < _INF:
            # Not sooner than a few ms: a long backlog is scanned at most that often.
            self._arm(loop, max(upcoming, now + _TIMER_GRANULARITY))

    def abort(self, exc: BaseException) -> None:
        transport = self.transport
        if transport is not None:
            transport.abort()
        self.connection_lost(exc if isinstance(exc, Exception) else None)


async def _until_loop_shutdown(protocol: _Protocol) -> AsyncIterator[None]:
    try:
        yield
    finally:
        protocol.abort(ConnectionError("event loop shut down"))


async def close_with_loop(protocol: _Protocol) -> None:
    """Close ``protocol``'s connection when the running loop shuts its async generators down.

    A loop closed with the connection open would leave its socket to the garbage collector (a
    ``ResourceWarning``), and a closed loop can no longer close it. An async generator started on the
    loop is closed by ``loop.shutdown_asyncgens()``, which ``asyncio.run`` and test runners call while
    the loop still runs; the protocol holds it, so it lives as long as the connection.
    """
    watcher = _until_loop_shutdown(protocol)
    await anext(watcher)
    protocol.watcher = watcher


def connection_target(client: Any) -> dict[str, Any] | None:
    """Where and how to connect like ``client``'s pool does, or ``None`` when only the client can.

    Plain TCP and unix-socket connections with a password and a database number are supported;
    TLS, credential providers, Sentinel, cluster and custom connection classes are not.
    """
    pool = getattr(client, "connection_pool", None)
    connection_class = getattr(pool, "connection_class", None)
    found: object = getattr(pool, "connection_kwargs", None)
    if connection_class is None or not isinstance(found, dict):
        return None
    kwargs = cast("dict[str, Any]", found)
    module = getattr(connection_class, "__module__", "")
    name = getattr(connection_class, "__name__", "")
    if module not in {"redis.asyncio.connection", "valkey.asyncio.connection"}:
        return None
    if name not in {"Connection", "UnixDomainSocketConnection"} or kwargs.get("credential_provider") is not None:
        return None
    target: dict[str, Any] = {
        "db": int(kwargs.get("db") or 0),
        "username": kwargs.get("username"),
        "password": kwargs.get("password"),
        "encoding": kwargs.get("encoding") or "utf-8",
        "connect_timeout": kwargs.get("socket_connect_timeout") or kwargs.get("socket_timeout"),
    }
    if name == "UnixDomainSocketConnection":
        target["path"] = kwargs.get("path")
    else:
        target["host"] = kwargs.get("host") or "localhost"
        target["port"] = int(kwargs.get("port") or 6379)
    return target


class PipelinedRedisBackend(AsyncRedisBackend):
    """:class:`AsyncRedisBackend` whose reads use one pipelined connection per event loop.

    Args:
        client: an asyncio ``Redis``/``Valkey`` client; writes go through it, and reads too when its
            connection settings are not ones :func:`connection_target` can reproduce.
        prefix: prepended to every key.
        stall_after: seconds a connection may leave replies outstanding before it is replaced.
    """

    __slots__ = ("_connecting", "_encoding", "_pid", "_protocols", "_target", "stall_after")

    def __init__(self, client: Any, prefix: str = "", stall_after: float = 2.0) -> None:
        super().__init__(client, prefix)
        self._target = connection_target(client)
        self._encoding: str = "utf-8" if self._target is None else self._target["encoding"]
        self.stall_after = stall_after
        # One connection per event loop: a transport belongs to the loop that opened it.
        self._protocols: dict[asyncio.AbstractEventLoop, _Protocol] = {}
        self._connecting: dict[asyncio.AbstractEventLoop, asyncio.Future[_Protocol]] = {}
        self._pid = os.getpid()

    @property
    def _protocol(self) -> _Protocol | None:
        """The connection of the running loop, if any (for tests and introspection)."""
        try:
            return self._protocols.get(asyncio.get_running_loop())
        except RuntimeError:
            return next(iter(self._protocols.values()), None)

    @property
    def pipelined(self) -> bool:
        """Whether reads bypass the client (``False``: its settings need the client's own connections)."""
        return self._target is not None

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """``MGET`` of ``keys`` on the pipelined connection (the client's ``mget`` if it cannot be used)."""
        if self._target is None:
            return await super().get_many(keys)
        return await self._mget(keys, None)

    async def get_many_within(self, keys: Sequence[str], timeout: float) -> list[bytes | None]:
        """:meth:`get_many` bounded by ``timeout`` seconds (``TimeoutError``), cheaper than wrapping it in one.

        The cache calls this instead of putting an ``asyncio.timeout`` around :meth:`get_many`: the
        connection's own deadline timer costs a tuple per read instead of a timer handle and a
        cancellation scope.
        """
        if self._target is None:
            async with async_timeout(timeout):
                return await super().get_many(keys)
        return await self._mget(keys, timeout)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """``SET`` of one entry (``PX`` its ttl) on the pipelined connection: a populate, one round trip."""
        if self._target is None:
            await super().set(key, value, ttl)
            return
        parts = [b"SET", (self.prefix + key).encode(self._encoding), value]
        if ttl is not None:
            parts += [b"PX", b"%d" % self._ms(ttl)]
        await self._write(pack(*parts), None)

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        """``MSET`` of ``items`` on the pipelined connection (a bump: one round trip, no pool checkout)."""
        if self._target is None:
            await super().set_many(items)
            return
        await self._write(self._mset(items), None)

    async def set_many_within(self, items: Mapping[str, bytes], timeout: float) -> None:
        """:meth:`set_many` bounded by ``timeout`` seconds (``TimeoutError``): the connection's deadline, no timer."""
        if self._target is None:
            async with async_timeout(timeout):
                await super().set_many(items)
            return
        await self._write(self._mset(items), timeout)

    def _mset(self, items: Mapping[str, bytes]) -> bytes:
        prefix = self.prefix
        encoding = self._encoding
        parts = [b"MSET"]
        for key, value in items.items():
            parts.append((prefix + key).encode(encoding))
            parts.append(value)
        return pack(*parts)

    async def _write(self, command: bytes, timeout: float | None) -> None:
        protocol = await self._ready(timeout)
        try:
            await protocol.send(command, timeout)
        except RespError as exc:
            # An error reply starts with its kind: OOM is a write refused at maxmemory (noeviction), which
            # the cache answers by deleting the versions instead (deletes are still accepted).
            if str(exc).startswith("OOM "):
                raise StoreFullError(str(exc)) from exc
            raise

    async def mark_many(self, keys: Sequence[str], marker_id: str, ttl: float) -> None:
        """The marker script on the pipelined connection (it runs inside a commit, like a bump)."""
        if self._target is None:
            await super().mark_many(keys, marker_id, ttl)
            return
        await self._mark(keys, marker_id, ttl, None)

    async def mark_many_within(self, keys: Sequence[str], marker_id: str, ttl: float, timeout: float) -> None:
        """:meth:`mark_many` bounded by ``timeout`` seconds (``TimeoutError``): the connection's deadline, no timer."""
        if self._target is None:
            async with async_timeout(timeout):
                await super().mark_many(keys, marker_id, ttl)
            return
        await self._mark(keys, marker_id, ttl, timeout)

    async def _mark(self, keys: Sequence[str], marker_id: str, ttl: float, timeout: float | None) -> None:
        prefix = self.prefix
        encoding = self._encoding
        await self._eval(
            MARK_SCRIPT,
            [(prefix + key).encode(encoding) for key in keys],
            [marker_id.encode(), b"%d" % self._ms(ttl)],
            timeout,
        )

    async def settle_many(self, items: Mapping[str, bytes], marker_ids: Sequence[str]) -> None:
        """The settle script on the pipelined connection: phase two of a commit's invalidation."""
        if self._target is None:
            await super().settle_many(items, marker_ids)
            return
        await self._settle(items, marker_ids, None)

    async def settle_many_within(self, items: Mapping[str, bytes], marker_ids: Sequence[str], timeout: float) -> None:
        """:meth:`settle_many` bounded by ``timeout`` seconds (``TimeoutError``): the connection's deadline, no timer."""
        if self._target is None:
            async with async_timeout(timeout):
                await super().settle_many(items, marker_ids)
            return
        await self._settle(items, marker_ids, timeout)

    async def _settle(self, items: Mapping[str, bytes], marker_ids: Sequence[str], timeout: float | None) -> None:
        prefix = self.prefix
        encoding = self._encoding
        await self._eval(
            SETTLE_SCRIPT,
            [(prefix + key).encode(encoding) for key in items],
            [" ".join(marker_ids).encode(), *items.values()],
            timeout,
        )

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        """Each key's value, set first where absent: one script on the pipelined connection (a tag's first read)."""
        if self._target is None:
            return await super().init_many(items)
        prefix = self.prefix
        encoding = self._encoding
        keys = [(prefix + key).encode(encoding) for key in items]
        values: list[bytes] = await self._eval(_INIT_SCRIPT, keys, list(items.values()), None)
        return values

    async def _eval(self, script: str, keys: list[bytes], args: list[bytes], timeout: float | None) -> Any:
        # EVALSHA: the server neither receives nor hashes the script again; EVAL loads it once per server.
        # ``timeout`` bounds the connect and each command (the EVAL after a NOSCRIPT reply gets its own).
        protocol = await self._ready(timeout)
        numkeys = b"%d" % len(keys)
        try:
            try:
                return await protocol.send(pack(b"EVALSHA", _sha(script), numkeys, *keys, *args), timeout)
            except RespError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                return await protocol.send(pack(b"EVAL", script.encode(), numkeys, *keys, *args), timeout)
        except RespError as exc:
            if str(exc).startswith("OOM "):
                raise StoreFullError(str(exc)) from exc
            raise

    async def _ready(self, timeout: float | None) -> _Protocol:
        """The running loop's connection, (re)connected if lost or stalled."""
        protocol = self._protocols.get(asyncio.get_running_loop())
        if protocol is None or protocol.transport is None:
            protocol = await self._connect_within(timeout)
        elif protocol.waiters and time.monotonic() - protocol.progress > self.stall_after:
            protocol.abort(TimeoutError("redis replies stalled"))
            protocol = await self._connect_within(timeout)
        return protocol

    async def _mget(self, keys: Sequence[str], timeout: float | None) -> list[bytes | None]:
        protocol = await self._ready(timeout)
        prefix = self.prefix
        encoding = self._encoding
        values: list[bytes | None] = await protocol.send(
            pack(b"MGET", *[(prefix + key).encode(encoding) for key in keys]), timeout
        )
        return values

    async def _connect_within(self, timeout: float | None) -> _Protocol:
        if timeout is None:
            return await self._connect()
        async with async_timeout(timeout):
            return await self._connect()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        connecting = self._connecting.get(loop)
        if connecting is not None and not connecting.done():
            # Concurrent first callers share one connection attempt.
            return await asyncio.shield(connecting)
        self._forget_dead()
        self._drop(loop)
        connecting = self._connecting[loop] = loop.create_future()
        try:
            protocol = await self._open(loop)
        except BaseException as exc:
            if not connecting.done():
                connecting.set_exception(exc if isinstance(exc, Exception) else ConnectionError("connect cancelled"))
                connecting.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            if self._connecting.get(loop) is connecting:
                del self._connecting[loop]
        self._protocols[loop] = protocol
        connecting.set_result(protocol)
        return protocol

    def _forget_dead(self) -> None:
        """Forget connections of closed loops, and every inherited one in a forked child (the parent owns them)."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._protocols.clear()
            self._connecting.clear()
            return
        for loop in [loop for loop in self._protocols if loop.is_closed()]:
            del self._protocols[loop]

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        target = self._target
        assert target is not None  # noqa: S101 - only called for pipelined backends
        if "path" in target:
            opening = loop.create_unix_connection(_Protocol, target["path"])
        else:
            opening = loop.create_connection(_Protocol, target["host"], target["port"])
        if target["connect_timeout"]:
            _, protocol = await asyncio.wait_for(opening, target["connect_timeout"])
        else:
            _, protocol = await opening
        try:
            handshake: list[asyncio.Future[Any]] = []
            if target["password"] is not None:
                credentials = [str(target["password"]).encode()]
                if target["username"]:
                    credentials.insert(0, str(target["username"]).encode())
                handshake.append(protocol.send(pack(b"AUTH", *credentials)))
            if target["db"]:
                handshake.append(protocol.send(pack(b"SELECT", str(target["db"]).encode())))
            for reply in handshake:
                await reply
        except BaseException:
            protocol.abort(ConnectionError("redis handshake failed"))
            raise
        await close_with_loop(protocol)
        return protocol

    def _drop(self, loop: asyncio.AbstractEventLoop) -> None:
        protocol = self._protocols.pop(loop, None)
        if protocol is None or protocol.transport is None:
            return
        if loop is asyncio.get_running_loop():
            protocol.abort(ConnectionError("redis connection closed"))
        elif not loop.is_closed():
            loop.call_soon_threadsafe(protocol.abort, ConnectionError("redis connection closed"))

    async def aclose(self) -> None:
        """Close the pipelined connections, of every event loop (the client is the caller's to close)."""
        self._forget_dead()
        for loop in list(self._protocols):
            self._drop(loop)
