"""Invariant 7 with an invalidation outbox: a cache whose drain deadline passed shares no load.

A writer that lost the store records its commit's tags in the outbox instead of bumping them, so the store's
versions still name the data from before that commit until a drain delivers them. While undrained,
``get_or_load`` must run its own loader: neither a load that finished a moment ago under those versions (the
``_recent`` memo) nor one in flight may be handed to it. The store is the real in-process memory backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from litestar_alchemy_kit.cache import AsyncCache, AsyncMemoryBackend, CacheOptions, SyncCache, SyncMemoryBackend

OPTIONS = CacheOptions(timeout=30.0)  # a recent load is shared for up to the timeout: long enough to be in reach


def test_an_undrained_cache_shares_no_recent_load() -> None:
    async def scenario() -> tuple[str, str, str]:
        cache = AsyncCache(AsyncMemoryBackend(), namespace="undrained", options=OPTIONS)
        before = await cache.get_or_load("k", ["t:items"], _returning("before"))
        # the drain deadline passes (another process committed, its tags are in the outbox, not yet bumped)
        cache.serve_until(time.monotonic() - 1)
        after = await cache.get_or_load("k", ["t:items"], _returning("after"))
        cache.serve_until(float("inf"))  # drained again: the undrained load's result was stored, and is served
        drained = await cache.get_or_load("k", ["t:items"], _returning("unused"))
        await cache.close()
        return before, after, drained

    assert asyncio.run(scenario()) == ("before", "after", "after")


def test_an_undrained_cache_joins_no_load_in_flight() -> None:
    async def scenario() -> tuple[str, str]:
        cache = AsyncCache(AsyncMemoryBackend(), namespace="undrained-flight", options=OPTIONS)
        release = asyncio.Event()

        async def slow() -> str:
            await release.wait()
            return "before"

        first = asyncio.ensure_future(cache.get_or_load("k", ["t:items"], slow))
        await asyncio.sleep(0)  # the first load is under way
        cache.serve_until(time.monotonic() - 1)
        second = asyncio.ensure_future(cache.get_or_load("k", ["t:items"], _returning("after")))
        await asyncio.sleep(0)
        release.set()
        results = (await first, await second)
        await cache.close()
        return results

    assert asyncio.run(scenario()) == ("before", "after")


def test_an_undrained_sync_cache_shares_no_recent_load() -> None:
    cache = SyncCache(SyncMemoryBackend(), namespace="undrained-sync", options=OPTIONS)
    before = cache.get_or_load("k", ["t:items"], lambda: "before")
    cache.serve_until(time.monotonic() - 1)
    after = cache.get_or_load("k", ["t:items"], lambda: "after")
    cache.close()
    assert (before, after) == ("before", "after")


def _returning(value: str) -> Callable[[], Awaitable[str]]:
    async def load() -> str:
        return value

    return load
