"""Leases: a caller that takes the lease after the last holder stored its value serves that value, loading nothing."""

from __future__ import annotations

import asyncio
import threading

from litestar_alchemy_kit.cache import AsyncCache, AsyncMemoryBackend, CacheOptions, SyncCache, SyncMemoryBackend

OPTIONS = CacheOptions(lease_ttl=60, lease_wait=30, lease_poll=0.01)


class _SlowLease(AsyncMemoryBackend):
    """The holder's store, seen by another process whose lease request arrives only once ``gate`` is set."""

    def __init__(self, shared: AsyncMemoryBackend, gate: asyncio.Event) -> None:
        super().__init__()
        self._store = shared.store
        self._lock = shared._lock
        self.gate = gate
        self.arrived = asyncio.Event()

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        self.arrived.set()
        await self.gate.wait()
        return await super().add(key, value, ttl)


async def test_a_lease_taken_after_the_holder_stored_its_value_serves_that_value() -> None:
    shared = AsyncMemoryBackend()
    gate = asyncio.Event()
    holder = AsyncCache(shared, namespace="lease", options=OPTIONS)
    slow_lease = _SlowLease(shared, gate)
    other = AsyncCache(slow_lease, namespace="lease", options=OPTIONS)
    key = holder.key("row", "q")
    release, holding = asyncio.Event(), asyncio.Event()
    loads: list[str] = []

    async def slow() -> str:
        loads.append("holder")
        holding.set()
        await release.wait()
        return "from-holder"

    async def fast() -> str:
        loads.append("other")
        return "from-other"

    first = asyncio.create_task(holder.get_or_load(key, ["t"], slow))
    await holding.wait()
    second = asyncio.create_task(other.get_or_load(key, ["t"], fast))
    await asyncio.wait_for(slow_lease.arrived.wait(), 30)  # its lookup missed; its lease request is held at the gate
    release.set()
    assert await first == "from-holder"  # stored, lease released
    gate.set()  # the lease request arrives now, and is granted
    assert await second == "from-holder"
    assert loads == ["holder"]
    assert await shared.get_many([holder._keys.lease(key)]) == [None]


async def test_a_lease_taken_with_nothing_stored_loads_and_stores() -> None:
    cache = AsyncCache(AsyncMemoryBackend(), namespace="lease", options=OPTIONS)
    key = cache.key("row", "q")
    loads: list[int] = []

    async def load() -> int:
        loads.append(1)
        return 7

    assert await cache.get_or_load(key, ["t"], load) == 7
    assert await cache.get_or_load(key, ["t"], load) == 7
    assert loads == [1]
    assert await cache.backend.get_many([cache._keys.lease(key)]) == [None]


class _SyncSlowLease(SyncMemoryBackend):
    """As :class:`_SlowLease`, for the sync cache (threads)."""

    def __init__(self, shared: SyncMemoryBackend, gate: threading.Event) -> None:
        super().__init__()
        self._store = shared.store
        self._lock = shared._lock
        self.gate = gate
        self.arrived = threading.Event()

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        self.arrived.set()
        assert self.gate.wait(30)
        return super().add(key, value, ttl)


def test_sync_a_lease_taken_after_the_holder_stored_its_value_serves_that_value() -> None:
    shared = SyncMemoryBackend()
    gate, release, holding = threading.Event(), threading.Event(), threading.Event()
    holder = SyncCache(shared, namespace="lease", options=OPTIONS)
    slow_lease = _SyncSlowLease(shared, gate)
    other = SyncCache(slow_lease, namespace="lease", options=OPTIONS)
    key = holder.key("row", "q")
    loads: list[str] = []
    results: dict[str, str] = {}

    def slow() -> str:
        loads.append("holder")
        holding.set()
        assert release.wait(30)
        return "from-holder"

    def fast() -> str:
        loads.append("other")
        return "from-other"

    first = threading.Thread(target=lambda: results.update(first=holder.get_or_load(key, ["t"], slow)))
    second = threading.Thread(target=lambda: results.update(second=other.get_or_load(key, ["t"], fast)))
    first.start()
    assert holding.wait(30)
    second.start()
    assert slow_lease.arrived.wait(30)  # its lookup missed; its lease request is held at the gate
    release.set()
    first.join(30)
    assert results["first"] == "from-holder"  # stored, lease released
    gate.set()
    second.join(30)
    assert results["second"] == "from-holder"
    assert loads == ["holder"]
