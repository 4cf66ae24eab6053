"""Outages on real servers: a paused or stopped Redis/Valkey gives misses within the timeout, never errors,
and once it is back no value older than a bump made during the outage is served.

Every scenario runs on a private single server and on a private Redis Cluster and Valkey Cluster (3 masters +
3 replicas), where the fault hits one master: the one holding the ``users`` table's versions. The entry depends
on ``users`` and ``orders``; on a cluster it is stored beside ``orders``' versions on another master (the lower
slot group anchors it), so it outlives a fault of the master whose versions the outage's bump could not reach,
which a single server cannot show: there, the versions alone keep it from hitting.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from litestar.stores.valkey import ValkeyStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, AsyncRedisBackend, CacheOptions, SyncCache
from tests.integration.cache._servers import OwnCluster, OwnServer

OPTIONS = CacheOptions(timeout=0.2, breaker_threshold=2, breaker_cooldown=0.3, retry_initial=0.05, retry_max=0.2)
TAGS = ["users", "orders"]
FAULTED = ["users"]
"""The tag whose versions the outage's bump writes (on a cluster: the faulted master's)."""
PREFIX = "fault:"

Target = OwnServer | OwnCluster


def _placed(target: Target, cache: AsyncCache | SyncCache, key: str) -> None:
    """On a cluster: the bumped versions are on the faulted master and the entry is not (see the module docstring)."""
    if isinstance(target, OwnCluster):
        assert target.on_faulted(PREFIX + cache.tag_key(FAULTED[0]))
        assert not target.on_faulted(PREFIX + cache.stored_key(key, TAGS))


async def _cached(cache: AsyncCache, other: AsyncCache, key: str, value: str) -> None:
    """Store ``value`` and see ``other`` hit it: a precondition, retried (a cold client's first calls, reading the
    slot map and connecting, can pass the 0.2 s timeout on a loaded runner)."""

    async def stored() -> bool:
        versions = await cache.versions(TAGS)
        return versions is not None and await cache.set(key, value, versions) and await other.get(key, TAGS) == value

    await _eventually(stored)


def _cached_sync(cache: SyncCache, other: SyncCache, key: str, value: str) -> None:
    """:func:`_cached` for sync caches."""
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        versions = cache.versions(TAGS)
        if versions is not None and cache.set(key, value, versions) and other.get(key, TAGS) == value:
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


async def _eventually(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_paused_server_gives_misses_and_a_bump_during_the_pause_wins(fault_target: Target) -> None:
    cache = AsyncCache(fault_target.store("fault", socket_timeout=1), namespace="f", options=OPTIONS)
    other = AsyncCache(fault_target.store("fault", socket_timeout=1), namespace="f", options=OPTIONS)  # another process
    # a writer with no commit policy: its bump is one MSET, bounded like the settle
    unmarked = AsyncCache(
        fault_target.store("fault", socket_timeout=1), namespace="f", options=replace(OPTIONS, commit_policy=None)
    )
    marking = AsyncCache(fault_target.store("fault", socket_timeout=1), namespace="f", options=OPTIONS)
    key = cache.key("row", "q")
    _placed(fault_target, cache, key)
    await _cached(cache, other, key, "before")
    # their connections are open before the pause (retried: a cold client's first call may pass the timeout)
    await _eventually(lambda: unmarked.bump(["warm"]))
    await _eventually(lambda: marking.bump(["warm"]))

    fault_target.pause()
    try:
        started = time.monotonic()
        assert await cache.get(key, TAGS) is MISS
        assert time.monotonic() - started < 1.0  # bounded by the 0.2 s timeout, not the socket's
        # a commit during the outage: its bump is bounded by the timeout too, and undelivered; so are the marker
        # of another commit and the bump of a writer with no commit policy (each cache its own breaker, still closed)
        assert not await asyncio.wait_for(cache.bump(FAULTED), 1.0)
        assert await asyncio.wait_for(marking.mark(FAULTED), 1.0) is None
        assert not await asyncio.wait_for(unmarked.bump(FAULTED), 1.0)
        assert "users" in cache.pending_tags
        for _ in range(5):
            assert await cache.get(key, TAGS) is MISS
            assert await cache.versions(TAGS) is None
            assert await cache.get_or_load(key, TAGS, _const("db-now")) == "db-now"
        assert cache.breaker_open
        assert cache.stats["error"] >= 1
    finally:
        fault_target.resume()

    # back: the pending bump is delivered, after which the pre-outage entry never hits, in any instance
    await _eventually(lambda: _true(not cache.pending_tags))
    assert await cache.get(key, TAGS) is MISS
    assert await other.get(key, TAGS) is MISS
    assert await cache.get_or_load(key, TAGS, _const("after")) == "after"
    assert await other.get(key, TAGS) == "after"
    await _eventually(lambda: _true(not unmarked.pending_tags))
    await _close(cache, other, unmarked, marking)


async def test_stopped_and_restarted_server(fault_target: Target) -> None:
    cache = AsyncCache(fault_target.store("fault", socket_timeout=1), namespace="f", options=OPTIONS)
    other = AsyncCache(fault_target.store("fault", socket_timeout=1), namespace="f", options=OPTIONS)
    key = cache.key("row", "q")
    _placed(fault_target, cache, key)
    await _cached(cache, other, key, "before")
    fault_target.stop()
    started = time.monotonic()
    assert await cache.get(key, TAGS) is MISS
    assert not await cache.bump(FAULTED)
    assert await cache.get_or_load(key, TAGS, _const("db")) == "db"
    assert await cache.versions(TAGS) is None  # nothing computed now may be cached
    assert time.monotonic() - started < 3.0
    fault_target.start()  # same port, empty: every version it held is new
    # The entry outlived the outage only where it is not on the stopped server (a cluster's other master).
    assert fault_target.stored(PREFIX + cache.stored_key(key, TAGS)) is isinstance(fault_target, OwnCluster)
    await _eventually(lambda: _true(not cache.pending_tags))
    assert await cache.get(key, TAGS) is MISS
    assert await other.get(key, TAGS) is MISS
    await _eventually(lambda: _hits(cache, key))
    await _close(cache, other)


@pytest.mark.timeout(60)  # a sync call the socket timeout does not bound would block until the server resumes
def test_sync_cache_paused_server(fault_target: Target) -> None:
    """A worker's ``SyncCache`` on the app's store: its sync client keeps the async client's socket timeout."""
    store = fault_target.store("fault", socket_timeout=0.2)
    cache = SyncCache(store, namespace="f", options=OPTIONS)
    key = cache.key("row", "q")
    _placed(fault_target, cache, key)
    for _ in range(50):  # a precondition, retried: a cold client's first calls may pass the socket timeout
        versions = cache.versions(TAGS)
        if versions is not None and cache.set(key, "before", versions) and cache.get(key, TAGS) == "before":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the entry was never cached")
    fault_target.pause()
    try:
        started = time.monotonic()
        assert cache.get(key, TAGS) is MISS
        assert not cache.bump(FAULTED)
        assert cache.get_or_load(key, TAGS, lambda: "db") == "db"
        assert time.monotonic() - started < 2.0
    finally:
        fault_target.resume()
    deadline = time.monotonic() + 20
    while cache.pending_tags and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cache.pending_tags
    assert cache.get(key, TAGS) is MISS
    cache.close()
    asyncio.run(_aclose_store(store))


# retries far apart: the one delivery attempt that counts is close()'s, after writes are accepted again
NO_RETRY = CacheOptions(timeout=0.5, breaker_threshold=1000, retry_initial=60, retry_max=60)


async def test_an_undelivered_clear_serves_nothing_older_than_it(fault_target: Target) -> None:
    """The server refuses the namespace bump of ``clear()`` but still answers reads: this process
    must not serve the entries the clear was meant to drop; others do until it is delivered."""
    cache = AsyncCache(fault_target.store("fault"), namespace="f", options=NO_RETRY)
    other = AsyncCache(fault_target.store("fault"), namespace="f", options=NO_RETRY)  # another process, in effect
    key = cache.key("row", "q")
    await _cached(cache, other, key, "before the clear")  # both clients warm: the read below is not a cold one
    assert await cache.get(key, TAGS) == "before the clear"
    fault_target.refuse_writes(True)
    try:
        assert not await cache.clear()
        assert await other.get(key, TAGS) == "before the clear"  # the entry is still readable
        assert await cache.get(key, TAGS) is MISS
        assert await cache.get_or_load(key, TAGS, _const("db")) == "db"
        assert await cache.versions(TAGS) is None
    finally:
        fault_target.refuse_writes(False)
    await cache.close()  # its last attempt delivers the clear
    assert await other.get(key, TAGS) is MISS
    await _close(cache, other)


def test_sync_an_undelivered_clear_serves_nothing_older_than_it(fault_target: Target) -> None:
    """As above, with sync caches on bare clients (``Redis``/``Valkey``, or their cluster clients)."""
    clients = [fault_target.sync_client() for _ in range(2)]
    cache = SyncCache(clients[0], namespace="f", options=NO_RETRY)
    other = SyncCache(clients[1], namespace="f", options=NO_RETRY)
    key = cache.key("row", "q")
    _cached_sync(cache, other, key, "before the clear")
    assert cache.get(key, TAGS) == "before the clear"
    fault_target.refuse_writes(True)
    try:
        assert not cache.clear()
        assert other.get(key, TAGS) == "before the clear"
        assert cache.get(key, TAGS) is MISS
        assert cache.get_or_load(key, TAGS, lambda: "db") == "db"
        assert cache.versions(TAGS) is None
    finally:
        fault_target.refuse_writes(False)
    cache.close()
    assert other.get(key, TAGS) is MISS
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
    await cache.get_or_load(key, TAGS, _const("fresh"))
    return await cache.get(key, TAGS) == "fresh"


async def _aclose_store(store: Any) -> None:
    await (store._valkey if isinstance(store, ValkeyStore) else store._redis).aclose()


async def _close(*caches: AsyncCache) -> None:
    """Close the caches and the store clients the test made for them."""
    for cache in caches:
        await cache.close()
        backend = cache.backend
        assert isinstance(backend, AsyncRedisBackend)
        await backend.client.aclose()
