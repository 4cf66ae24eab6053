"""Outages on real servers: a paused or stopped Redis/Valkey gives misses within the timeout, never errors,
and once it is back no value older than a bump made during the outage is served."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar.stores.redis import RedisStore
from litestar.stores.valkey import ValkeyStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, CacheOptions, SyncCache
from tests.integration.cache._servers import OwnServer

OPTIONS = CacheOptions(timeout=0.2, breaker_threshold=2, breaker_cooldown=0.3, retry_initial=0.05, retry_max=0.2)


def _store(server: OwnServer) -> Any:
    if server.kind == "valkey":
        from valkey.asyncio import Valkey

        return ValkeyStore(Valkey.from_url(server.url, socket_timeout=1), namespace="fault")
    from redis.asyncio import Redis

    return RedisStore(Redis.from_url(server.url, socket_timeout=1), namespace="fault")


async def _eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_paused_server_gives_misses_and_a_bump_during_the_pause_wins(own_server: OwnServer) -> None:
    cache = AsyncCache(_store(own_server), namespace="f", options=OPTIONS)
    other = AsyncCache(_store(own_server), namespace="f", options=OPTIONS)  # another process, in effect
    key = cache.key("row", "q")
    await cache.set(key, "before", await cache.versions(["users"]))
    assert await other.get(key, ["users"]) == "before"

    own_server.pause()
    try:
        started = time.monotonic()
        assert await cache.get(key, ["users"]) is MISS
        assert time.monotonic() - started < 1.0  # bounded by the 0.2 s timeout, not the socket's
        assert not await cache.bump(["users"])  # a commit during the outage: undelivered
        assert "users" in cache.pending_tags
        for _ in range(5):
            assert await cache.get(key, ["users"]) is MISS
            assert await cache.versions(["users"]) is None
            assert await cache.get_or_load(key, ["users"], _const("db-now")) == "db-now"
        assert cache.breaker_open
        assert cache.stats["error"] >= 1
    finally:
        own_server.resume()

    # back: the pending bump is delivered, after which the pre-outage entry never hits, in any instance
    await _eventually(lambda: _true(not cache.pending_tags))
    assert await cache.get(key, ["users"]) is MISS
    assert await other.get(key, ["users"]) is MISS
    assert await cache.get_or_load(key, ["users"], _const("after")) == "after"
    assert await other.get(key, ["users"]) == "after"
    await cache.close()


async def test_stopped_and_restarted_server(own_server: OwnServer) -> None:
    cache = AsyncCache(_store(own_server), namespace="f", options=OPTIONS)
    key = cache.key("row", "q")
    await cache.set(key, "before", await cache.versions(["users"]))
    own_server.stop()
    started = time.monotonic()
    assert await cache.get(key, ["users"]) is MISS
    assert not await cache.bump(["users"])
    assert await cache.get_or_load(key, ["users"], _const("db")) == "db"
    assert await cache.versions(["users"]) is None  # nothing computed now may be cached
    assert time.monotonic() - started < 3.0
    own_server.start()  # same port, empty: every version is new
    await _eventually(lambda: _true(not cache.pending_tags))
    assert await cache.get(key, ["users"]) is MISS
    await _eventually(lambda: _hits(cache, key))
    await cache.close()


def test_sync_cache_paused_server(own_server: OwnServer) -> None:
    if own_server.kind == "valkey":
        import valkey

        client: Any = valkey.Valkey.from_url(own_server.url, socket_timeout=0.2)
    else:
        import redis

        client = redis.Redis.from_url(own_server.url, socket_timeout=0.2)
    cache = SyncCache(client, namespace="f", options=OPTIONS)
    key = cache.key("row", "q")
    cache.set(key, "before", cache.versions(["users"]))
    own_server.pause()
    try:
        started = time.monotonic()
        assert cache.get(key, ["users"]) is MISS
        assert not cache.bump(["users"])
        assert cache.get_or_load(key, ["users"], lambda: "db") == "db"
        assert time.monotonic() - started < 2.0
    finally:
        own_server.resume()
    deadline = time.monotonic() + 10
    while cache.pending_tags and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cache.pending_tags
    assert cache.get(key, ["users"]) is MISS
    cache.close()
    client.close()


def _refuse_writes(server: OwnServer, refuse: bool) -> None:
    """Make the server reject every write, deletes included (``NOREPLICAS``: it waits for a replica it does
    not have), while reads still work.

    Not ``maxmemory``: a full server still deletes, and the cache delivers a refused bump by deleting
    the versions (``test_maxmemory.py``).
    """
    import redis

    admin = redis.Redis.from_url(server.url)
    try:
        admin.config_set("min-replicas-to-write", 1 if refuse else 0)
    finally:
        admin.close()


# retries far apart: the one delivery attempt that counts is close()'s, after writes are accepted again
NO_RETRY = CacheOptions(timeout=0.5, breaker_threshold=1000, retry_initial=60, retry_max=60)


async def test_an_undelivered_clear_serves_nothing_older_than_it(own_server: OwnServer) -> None:
    """The server refuses the namespace bump of ``clear()`` but still answers reads: this process
    must not serve the entries the clear was meant to drop; others do until it is delivered."""
    cache = AsyncCache(_store(own_server), namespace="f", options=NO_RETRY)
    other = AsyncCache(_store(own_server), namespace="f", options=NO_RETRY)  # another process, in effect
    key = cache.key("row", "q")
    assert await cache.set(key, "before the clear", await cache.versions(["users"]))
    assert await cache.get(key, ["users"]) == "before the clear"
    _refuse_writes(own_server, True)
    try:
        assert not await cache.clear()
        assert await other.get(key, ["users"]) == "before the clear"  # the entry is still readable
        assert await cache.get(key, ["users"]) is MISS
        assert await cache.get_or_load(key, ["users"], _const("db")) == "db"
        assert await cache.versions(["users"]) is None
    finally:
        _refuse_writes(own_server, False)
    await cache.close()  # its last attempt delivers the clear
    assert await other.get(key, ["users"]) is MISS
    await other.close()


def test_sync_an_undelivered_clear_serves_nothing_older_than_it(own_server: OwnServer) -> None:
    if own_server.kind == "valkey":
        import valkey

        clients: list[Any] = [valkey.Valkey.from_url(own_server.url) for _ in range(2)]
    else:
        import redis

        clients = [redis.Redis.from_url(own_server.url) for _ in range(2)]
    cache = SyncCache(clients[0], namespace="f", options=NO_RETRY)
    other = SyncCache(clients[1], namespace="f", options=NO_RETRY)
    key = cache.key("row", "q")
    assert cache.set(key, "before the clear", cache.versions(["users"]))
    assert cache.get(key, ["users"]) == "before the clear"
    _refuse_writes(own_server, True)
    try:
        assert not cache.clear()
        assert other.get(key, ["users"]) == "before the clear"
        assert cache.get(key, ["users"]) is MISS
        assert cache.get_or_load(key, ["users"], lambda: "db") == "db"
        assert cache.versions(["users"]) is None
    finally:
        _refuse_writes(own_server, False)
    cache.close()
    assert other.get(key, ["users"]) is MISS
    other.close()
    for client in clients:
        client.close()


def _const(value: str) -> Any:
    async def loader() -> str:
        return value

    return loader


async def _true(value: bool) -> bool:
    return value


async def _hits(cache: AsyncCache, key: str) -> bool:
    await cache.get_or_load(key, ["users"], _const("fresh"))
    return await cache.get(key, ["users"]) == "fresh"
