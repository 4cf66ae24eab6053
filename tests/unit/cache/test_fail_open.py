"""Invariant 7 under races: an undelivered bump keeps its tags unserved in this process until a write made
after it lands, whatever the retry task, the breaker or another caller's cancellation does.

The store is the real in-process memory backend; ``Faulty`` only decides when a call fails, hangs, or has
its reply held back after the write was applied (a write that "timed out client-side but executed").
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from litestar_alchemy_kit.cache import MISS, AsyncCache, AsyncMemoryBackend, CacheOptions, SyncCache, SyncMemoryBackend


class Faulty:
    """An :class:`AsyncMemoryBackend` whose calls can be made to fail, hang, or return late."""

    def __init__(self, inner: AsyncMemoryBackend) -> None:
        self.inner = inner
        self.fail_writes = 0  # how many of the next set_many calls fail
        self.fail_reads = False
        self.hang_reads: asyncio.Event | None = None  # reads wait for it
        self.hold_write: asyncio.Event | None = None  # the next set_many applies, then waits for it
        self.holding = asyncio.Event()

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if self.hang_reads is not None:
            await self.hang_reads.wait()
        if self.fail_reads:
            raise ConnectionError("reads down")
        return await self.inner.get_many(keys)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.inner.set(key, value, ttl)

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise ConnectionError("write lost")
        await self.inner.set_many(items)
        hold, self.hold_write = self.hold_write, None
        if hold is not None:
            self.holding.set()
            await hold.wait()  # executed server-side; the reply is late

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        if self.fail_reads:
            raise ConnectionError("reads down")
        return await self.inner.init_many(items)

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        return await self.inner.add(key, value, ttl)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def delete_prefix(self, prefix: str) -> bool:
        return await self.inner.delete_prefix(prefix)


OPTIONS = CacheOptions(timeout=5, retry_initial=0.01, retry_max=0.02, breaker_threshold=1000)


def _pair(options: CacheOptions = OPTIONS) -> tuple[Faulty, AsyncCache, AsyncCache]:
    """(faults, this process's cache, another process's cache on the same store)."""
    shared = AsyncMemoryBackend()
    faulty = Faulty(shared)
    return (
        faulty,
        AsyncCache(faulty, namespace="fo", options=options),
        AsyncCache(shared, namespace="fo", options=options),
    )


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_bump_failing_while_the_retry_is_in_flight_stays_pending() -> None:
    faulty, mine, other = _pair()
    key = mine.key("row", "q")
    faulty.fail_writes = 1
    assert not await mine.bump(["t"])  # commit 1: undelivered
    late_reply = faulty.hold_write = asyncio.Event()  # the retry's write lands, its reply comes late
    await faulty.holding.wait()

    faulty.fail_writes = 1
    assert not await mine.bump(["t"])  # commit 2, after the retry's token was written: undelivered too
    # another process computed this before commit 2, under the token the retry wrote
    assert await other.set(key, "before commit 2", await other.versions(["t"]))
    late_reply.set()  # the retry's reply: it predates commit 2, so it must not clear the tag
    await asyncio.sleep(0.001)
    assert await mine.get(key, ["t"]) is MISS
    # a later retry delivers commit 2: then nobody serves the entry from before it
    await _until(lambda: not mine.pending_tags)
    assert await mine.get(key, ["t"]) is MISS
    assert await other.get(key, ["t"]) is MISS
    await mine.close()


async def test_a_load_this_process_could_not_version_is_not_shared_across_a_commit() -> None:
    faulty, mine, other = _pair()
    key = mine.key("row", "q")
    faulty.fail_reads = True  # this process cannot read versions: it cannot see other processes' commits
    started, finish = asyncio.Event(), asyncio.Event()

    async def before_commit() -> str:
        started.set()
        await finish.wait()
        return "before commit"

    async def after_commit() -> str:
        return "after commit"

    first = asyncio.create_task(mine.get_or_load(key, ["t"], before_commit))
    await started.wait()
    assert await other.bump(["t"])  # another process commits; its commit() has returned
    second = asyncio.create_task(mine.get_or_load(key, ["t"], after_commit))
    await asyncio.sleep(0.01)
    finish.set()
    assert await first == "before commit"
    assert await second == "after commit"  # never the load that began before the commit
    assert await mine.get_or_load(key, ["t"], after_commit) == "after commit"
    await mine.close()


async def test_a_cancelled_breaker_probe_does_not_wedge_the_breaker() -> None:
    options = CacheOptions(timeout=5, breaker_threshold=1, breaker_cooldown=0.05)
    faulty, mine, _ = _pair(options)
    key = mine.key("row", "q")
    assert await mine.set(key, "v", await mine.versions(["t"]))
    faulty.fail_reads = True
    assert await mine.get(key, ["t"]) is MISS
    assert mine.breaker_open
    await asyncio.sleep(0.06)
    faulty.fail_reads, faulty.hang_reads = False, asyncio.Event()
    probe = asyncio.create_task(mine.get(key, ["t"]))  # the probe hangs, and its caller goes away
    await asyncio.sleep(0.01)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    faulty.hang_reads.set()
    faulty.hang_reads = None
    await asyncio.sleep(0.06)
    await _until_async(lambda: _is(mine.get(key, ["t"]), "v"))
    await mine.close()


async def test_a_cancelled_loader_does_not_cancel_the_callers_sharing_it() -> None:
    _, mine, _ = _pair()
    key = mine.key("row", "q")
    gate = asyncio.Event()
    calls = 0

    async def loader() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await gate.wait()
        return f"load {calls}"

    leader = asyncio.create_task(mine.get_or_load(key, ["t"], loader))
    await asyncio.sleep(0.01)
    follower = asyncio.create_task(mine.get_or_load(key, ["t"], loader))
    await asyncio.sleep(0.01)
    leader.cancel()  # e.g. its client disconnected
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await follower == "load 2"  # loads itself instead of inheriting the cancellation
    await mine.close()


def test_undelivered_bumps_are_retried_on_the_next_event_loop_after_one_is_closed() -> None:
    faulty, mine, other = _pair()
    key = mine.key("row", "q")
    loop = asyncio.new_event_loop()

    async def outage() -> None:
        assert await other.set(key, "before commit", await other.versions(["t"]))
        faulty.fail_writes = 10**9
        assert not await mine.bump(["t"])  # the retry task starts on this loop ...

    loop.run_until_complete(outage())
    loop.close()  # ... which is closed under it (no cancellation reaches the task)
    faulty.fail_writes = 0

    async def later() -> None:
        assert await mine.get(key, ["t"]) is MISS
        await _until(lambda: not mine.pending_tags)
        assert await other.get(key, ["t"]) is MISS
        await mine.close()

    asyncio.run(later())


async def test_close_makes_one_last_attempt_to_deliver_pending_bumps() -> None:
    faulty, mine, other = _pair(CacheOptions(timeout=5, retry_initial=60, retry_max=60))
    key = mine.key("row", "q")
    assert await other.set(key, "before commit", await other.versions(["t"]))
    faulty.fail_writes = 1
    assert not await mine.bump(["t"])
    await mine.close()  # shutting down before the retry: the bump must not be dropped silently
    assert await other.get(key, ["t"]) is MISS


async def test_pending_tags_are_served_by_no_path() -> None:
    options = CacheOptions(timeout=5, retry_initial=60, retry_max=60, stale_ttl=30, negative_ttl=30)
    faulty, mine, _ = _pair(options)
    fresh, expired, absent = mine.key("row", "fresh"), mine.key("row", "expired"), mine.key("row", "absent")
    versions = await mine.versions(["t"])
    assert await mine.set(fresh, "cached", versions)
    assert await mine.set(expired, "stale", versions, ttl=0.01)
    assert await mine.get_or_load(absent, ["t"], _const(None)) is None  # negative entry
    await asyncio.sleep(0.02)
    faulty.fail_writes = 1
    assert not await mine.bump(["t"])
    assert await mine.versions(["t"]) is None
    for key in (fresh, expired, absent):
        assert await mine.get(key, ["t"]) is MISS
        assert await mine.get_or_load(key, ["t"], _const("db")) == "db"
    # a refresh in flight must not make the expired value servable either
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "db"

    refresh = asyncio.create_task(mine.get_or_load(expired, ["t"], slow))
    await asyncio.sleep(0.01)
    assert await asyncio.wait_for(mine.get_or_load(expired, ["t"], _const("db too")), 2) == "db too"
    gate.set()
    assert await refresh == "db"
    assert mine.stats["stale_served"] == 0
    assert await mine.set(fresh, "new", versions) is False
    await mine.close()


async def test_an_undelivered_clear_serves_nothing_older_than_it() -> None:
    faulty, mine, other = _pair(CacheOptions(timeout=5, retry_initial=60, retry_max=60))
    key = mine.key("row", "q")
    assert await mine.set(key, "before the clear", await mine.versions(["t"]))
    faulty.fail_writes = 1
    assert not await mine.clear()
    assert await other.get(key, ["t"]) == "before the clear"  # the namespace bump has not reached the store
    assert await mine.get(key, ["t"]) is MISS
    assert await mine.get_or_load(key, ["t"], _const("db")) == "db"
    assert await mine.versions(["t"]) is None
    assert await mine.set(key, "computed meanwhile", await other.versions(["t"])) is False
    await mine.close()  # the last attempt delivers it
    assert await other.get(key, ["t"]) is MISS


class SyncFaulty(SyncMemoryBackend):
    """The sync memory backend, whose next ``fail_writes`` multi-key writes fail, or whose next write returns late."""

    fail_writes = 0
    hold_write: threading.Event | None = None
    holding = threading.Event()

    def set_many(self, items: Mapping[str, bytes]) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise ConnectionError("write lost")
        super().set_many(items)
        hold, self.hold_write = self.hold_write, None
        if hold is not None:
            self.holding.set()
            hold.wait(10)


def test_sync_a_bump_failing_while_the_retry_thread_writes_stays_pending() -> None:
    backend = SyncFaulty()
    backend.holding = threading.Event()
    mine = SyncCache(backend, namespace="fo", options=CacheOptions(retry_initial=0.01, retry_max=0.02))
    other = SyncCache(backend, namespace="fo")
    key = mine.key("row", "q")
    late_reply = backend.hold_write = threading.Event()
    backend.fail_writes = 1
    assert not mine.bump(["t"])  # commit 1: undelivered; the retry thread's write will land, its reply late
    assert backend.holding.wait(5)
    backend.fail_writes = 1
    assert not mine.bump(["t"])  # commit 2: undelivered
    assert other.set(key, "before commit 2", other.versions(["t"]))
    late_reply.set()
    time.sleep(0.005)
    assert mine.get(key, ["t"]) is MISS
    deadline = time.monotonic() + 5
    while mine.pending_tags:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert other.get(key, ["t"]) is MISS
    mine.close()


def test_sync_pending_tags_are_served_by_no_path() -> None:
    backend = SyncFaulty()
    mine = SyncCache(backend, namespace="fo", options=CacheOptions(retry_initial=60, retry_max=60))
    other = SyncCache(backend, namespace="fo")  # another process: same store, its own state
    key = mine.key("row", "q")
    versions = mine.versions(["t"])
    assert mine.set(key, "cached", versions)
    backend.fail_writes = 1
    assert not mine.bump(["t"])
    assert mine.get(key, ["t"]) is MISS
    assert mine.get_or_load(key, ["t"], lambda: "db") == "db"
    assert mine.versions(["t"]) is None
    assert other.get(key, ["t"]) == "cached"  # the bump has not reached the store
    mine.close()  # the last attempt delivers it
    assert not mine.pending_tags
    assert other.get(key, ["t"]) is MISS


def test_sync_an_undelivered_clear_serves_nothing_older_than_it() -> None:
    backend = SyncFaulty()
    mine = SyncCache(backend, namespace="fo", options=CacheOptions(retry_initial=60, retry_max=60))
    other = SyncCache(backend, namespace="fo")
    key = mine.key("row", "q")
    assert mine.set(key, "before the clear", mine.versions(["t"]))
    backend.fail_writes = 1
    assert not mine.clear()
    assert other.get(key, ["t"]) == "before the clear"
    assert mine.get(key, ["t"]) is MISS
    assert mine.get_or_load(key, ["t"], lambda: "db") == "db"
    assert mine.versions(["t"]) is None
    mine.close()
    assert other.get(key, ["t"]) is MISS


def _const(value: Any) -> Any:
    async def load() -> Any:
        return value

    return load


async def _is(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected)


async def _until_async(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)
