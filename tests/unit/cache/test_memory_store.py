"""BoundedMemoryStore: caps, LRU order, expiry reclaimed without reads; the expiry wheel; MemoryStore's sweep."""

from __future__ import annotations

import asyncio
import datetime
import sys
import tracemalloc

import pytest
from litestar.stores.memory import MemoryStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, BoundedMemoryStore, ExpiryWheel, memory_store
from litestar_alchemy_kit.cache.backends.store import BoundedMemoryBackend, MemoryStoreBackend
from litestar_alchemy_kit.cache.memory_store import ENTRY_OVERHEAD, EXPIRY_OVERHEAD


def _key(i: int) -> str:
    return f"key-{i:06d}"


async def test_the_byte_cap_evicts_least_recently_used_first() -> None:
    per_entry = len(_key(0)) + 100 + ENTRY_OVERHEAD
    store = BoundedMemoryStore(max_bytes=per_entry * 10)
    for i in range(10):
        await store.set(_key(i), b"x" * 100)
    assert store.entries == 10
    assert store.size_bytes == per_entry * 10
    assert await store.get(_key(0)) == b"x" * 100  # key 0 is now the most recently used
    await store.set(_key(10), b"x" * 100)
    assert store.entries == 10
    assert store.evictions == 1
    assert await store.get(_key(1)) is None  # the least recently used went
    assert await store.get(_key(0)) == b"x" * 100
    assert await store.get(_key(10)) == b"x" * 100
    assert store.size_bytes <= per_entry * 10


async def test_the_entry_cap_evicts_and_overwrites_do_not_count_twice() -> None:
    store = BoundedMemoryStore(max_bytes=None, max_entries=3)
    for i in range(3):
        await store.set(_key(i), b"v")
    for _ in range(5):
        await store.set(_key(2), b"again")  # an overwrite is not a new entry
    assert store.entries == 3
    assert store.evictions == 0
    await store.set(_key(3), b"v")
    assert [await store.exists(_key(i)) for i in range(4)] == [False, True, True, True]


async def test_a_value_too_large_for_the_store_is_not_kept_and_hides_the_old_one() -> None:
    store = BoundedMemoryStore(max_bytes=2_000)
    await store.set("k", b"small")
    await store.set("k", b"x" * 5_000)
    assert await store.get("k") is None  # never the value the write replaced
    assert store.entries == 0
    assert store.size_bytes == 0


async def test_expired_entries_are_reclaimed_by_writes_of_other_keys() -> None:
    store = BoundedMemoryStore(max_bytes=1 << 30)
    for i in range(100):
        await store.set(_key(i), b"v", expires_in=1)
    assert store.entries == 100
    await asyncio.sleep(2.05)  # past the 1 s expiry and the end of its wheel slot
    for i in range(100, 130):  # no read of the expired keys
        await store.set(_key(i), b"v")
    # each write reclaims up to 8: 30 writes cover the 100 expired entries
    assert store.entries == 30
    assert store.expirations == 100
    assert store.size_bytes == 30 * (len(_key(0)) + 1 + ENTRY_OVERHEAD)


async def test_sweep_reclaims_on_demand_and_reads_never_return_expired_values() -> None:
    store = BoundedMemoryStore(max_bytes=1 << 30)
    await store.set("a", b"1", expires_in=datetime.timedelta(seconds=1))
    await store.set("b", b"2", expires_in=1)
    await store.set("c", b"3")
    await asyncio.sleep(1.05)
    assert await store.get("a") is None  # expired: gone at once on read, whatever the wheel says
    assert not await store.exists("b")
    assert await store.expires_in("b") is None
    await asyncio.sleep(1.0)
    assert store.sweep(100) == 0  # both already reclaimed by the reads
    assert store.entries == 1


async def test_renew_for_moves_the_entry_on_the_wheel() -> None:
    store = BoundedMemoryStore(max_bytes=1 << 30)
    await store.set("k", b"v", expires_in=1)
    assert await store.get("k", renew_for=30) == b"v"
    assert 28 <= (await store.expires_in("k") or 0) <= 30
    await asyncio.sleep(2.05)
    assert store.sweep(100) == 0  # the old slot no longer holds it
    assert await store.get("k") == b"v"
    await store.set("forever", b"v")
    assert await store.get("forever", renew_for=30) == b"v"
    assert await store.expires_in("forever") is None  # renew_for leaves a value with no expiry alone


async def test_entries_with_an_expiry_cost_their_wheel_slot() -> None:
    store = BoundedMemoryStore(max_bytes=1 << 30)
    await store.set("k", "ü")  # str values are stored as UTF-8
    await store.set("t", b"vv", expires_in=60)
    assert await store.get("k") == "ü".encode()
    assert store.size_bytes == (1 + 2 + ENTRY_OVERHEAD) + (1 + 2 + ENTRY_OVERHEAD + EXPIRY_OVERHEAD)
    await store.delete("t")
    await store.delete("missing")
    assert store.size_bytes == 1 + 2 + ENTRY_OVERHEAD
    await store.delete_all()
    assert (store.entries, store.size_bytes) == (0, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bytes": None, "max_entries": None}, "needs max_bytes or max_entries"),
        ({"max_bytes": 0}, "max_bytes must be a positive int"),
        ({"max_bytes": 1.5}, "max_bytes must be a positive int"),
        ({"max_entries": True}, "max_entries must be a positive int"),
    ],
)
def test_bad_caps_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BoundedMemoryStore(**kwargs)  # type: ignore[arg-type]


class _SteppedClock:
    """``time.monotonic`` for the store: one second later from write ``step_at`` on."""

    def __init__(self, step_at: int) -> None:
        self.writes = 0
        self.step_at = step_at

    def monotonic(self) -> float:
        return 1000.3 + (1.0 if self.writes >= self.step_at else 0.0)


# Where the clock's second boundary falls decides how the keys split over expiry-wheel slots; the worst
# case (a slot sized for 20,000 keys left holding half of them) was 3% over the old EXPIRY_OVERHEAD and
# failed this test 4 times in 10 with the real clock. Pinned, every split is checked each run.
_NEVER = 10**9


@pytest.mark.parametrize(
    ("ttl", "distinct", "step_at"),
    [
        (None, 20_000, _NEVER),
        (None, 80_000, _NEVER),
        (300, 20_000, _NEVER),
        *((300, 80_000, step) for step in (0, 40_000, 70_000, 75_000, _NEVER)),
    ],
)
async def test_accounted_bytes_bound_the_memory_really_held(
    ttl: int | None, distinct: int, step_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-entry overheads are not guesses: what the store holds is no more than it accounts for.

    20,000 keys fill a store that never evicts; 80,000 go through one capped at 20,000 entries'
    worth, which evicts (and takes keys off the expiry wheel) all the time.
    """
    clock = _SteppedClock(step_at)
    monkeypatch.setattr(memory_store, "time", clock)
    per_entry = 64 + 200 + ENTRY_OVERHEAD + (0 if ttl is None else EXPIRY_OVERHEAD)
    tracemalloc.start()
    store = BoundedMemoryStore(max_bytes=20_000 * per_entry)
    before = tracemalloc.get_traced_memory()[0]
    for i in range(distinct):
        clock.writes = i
        store.write(f"lak:orm:{i:056d}", bytes(bytearray(200)), ttl)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert store.entries == 20_000
    assert held <= store.size_bytes, (held / store.entries, store.size_bytes / store.entries)
    assert held >= 0.8 * store.size_bytes, "the accounting should not overstate by much either"


def test_the_wheel_hands_out_due_keys_a_bounded_number_at_a_time() -> None:
    wheel = ExpiryWheel(resolution=1.0)
    for i in range(20):
        wheel.add(_key(i), 100.5)
    wheel.add("later", 105.0)
    wheel.add("gone", 100.2)
    wheel.discard("gone", 100.2)
    assert len(wheel) == 21
    assert wheel.due(100.9, 50) == []  # the slot [100, 101) has not ended
    first = wheel.due(101.0, 8)
    assert len(first) == 8
    rest = wheel.due(101.0, 50)
    assert sorted(first + rest) == sorted(_key(i) for i in range(20))
    assert wheel.due(105.5, 50) == []
    assert wheel.due(106.0, 50) == ["later"]
    assert len(wheel) == 0
    # a slot whose keys are mostly taken off (evicted) gives its memory back
    for i in range(1000):
        wheel.add(_key(i), 200.5)
    full = sys.getsizeof(wheel._slots[201].keys)
    for i in range(900):
        wheel.discard(_key(i), 200.5)
    assert sys.getsizeof(wheel._slots[201].keys) < full / 3
    assert sorted(wheel.due(202.0, 1000)) == [_key(i) for i in range(900, 1000)]
    with pytest.raises(ValueError, match="resolution must be positive"):
        ExpiryWheel(resolution=0)


async def test_the_cache_picks_the_bounded_backend_and_keeps_fractional_ttls() -> None:
    store = BoundedMemoryStore(max_bytes=1 << 20)
    cache = AsyncCache(store, namespace="b")
    assert isinstance(cache.backend, BoundedMemoryBackend)
    key, control = cache.key("row", "q"), cache.key("row", "control")
    versions = await cache.versions(["t"])
    assert await cache.set(key, "v", versions, ttl=0.2)
    assert await cache.set(control, "v", versions, ttl=60)
    await asyncio.sleep(0.3)
    assert await store.get(key) is None  # gone from the store, not only stale in the envelope
    assert await cache.get(control, ["t"]) == "v"
    # add is atomic: one winner
    assert await cache.backend.add("lease", b"1", 5)
    assert not await cache.backend.add("lease", b"2", 5)
    await cache.close()


async def test_the_cache_sweeps_expired_entries_out_of_a_plain_memory_store() -> None:
    """MemoryStore drops an expired entry only when it is read: the cache's writes reclaim the ones it wrote."""
    store = MemoryStore()
    cache = AsyncCache(store, namespace="sweep")
    assert isinstance(cache.backend, MemoryStoreBackend)
    versions = await cache.versions(["t"])
    for i in range(200):
        await cache.set(cache.key("row", str(i)), i, versions, ttl=1)
    held = len(store._store)
    assert held == 200 + 2  # entries, the tag version and the namespace version
    await asyncio.sleep(2.05)
    for i in range(200, 230):  # traffic moves on to other keys; the old ones are never read
        await cache.set(cache.key("row", str(i)), i, versions, ttl=60)
    assert len(store._store) == 2 + 30  # 30 writes x 8 reclaimed cover the 200 expired entries
    await cache.close()


async def test_the_sweep_spares_an_entry_set_again_with_a_later_expiry() -> None:
    store = MemoryStore()
    backend = MemoryStoreBackend(store)
    await backend.set("k", b"first", 1)
    await store.set("k", b"second", expires_in=60)  # another writer, through the store's own API
    await asyncio.sleep(2.05)
    assert await backend.sweep(10) == 0
    assert await store.get("k") == b"second"
    assert len(backend._wheel) == 1  # back on the wheel at its new expiry, to be reclaimed then


async def test_the_sweep_and_a_concurrent_delete_expired_do_not_collide() -> None:
    """``MemoryStore.delete_expired()`` iterates the dict with awaits in between, while the cache keeps writing."""
    store = MemoryStore()
    cache = AsyncCache(store, namespace="both")
    versions = await cache.versions(["t"])
    for i in range(5_000):
        await cache.set(cache.key("row", str(i)), i, versions, ttl=1)
    await asyncio.sleep(2.05)

    async def writes() -> None:
        for i in range(5_000, 5_100):
            await cache.set(cache.key("row", str(i)), i, versions, ttl=60)

    await asyncio.gather(store.delete_expired(), writes())
    assert len(store._store) == 2 + 100
    await cache.close()


async def test_a_hit_on_the_bounded_store_is_a_hit_of_the_cache() -> None:
    cache = AsyncCache(BoundedMemoryStore(max_entries=3, max_bytes=None), namespace="n")
    key = cache.key("row", "q")
    await cache.set(key, 1, await cache.versions(["t"]))
    assert await cache.get(key, ["t"]) == 1
    # three more entries push out the least recently used: the tag version, read before them
    for i in range(3):
        await cache.set(cache.key("row", str(i)), i, await cache.versions(["u"]))
    assert await cache.get(key, ["t"]) is MISS  # an evicted entry or version is a miss, never a stale hit
    await cache.close()


def test_the_sync_memory_backend_is_bounded_and_safe_across_threads() -> None:
    import threading

    from litestar_alchemy_kit.cache import SyncMemoryBackend

    per_entry = len(_key(0)) + 4 + 100 + ENTRY_OVERHEAD + EXPIRY_OVERHEAD
    backend = SyncMemoryBackend(max_entries=1_000_000, max_bytes=500 * per_entry)

    def writer(thread: int) -> None:
        for i in range(2_000):
            backend.set(f"{_key(i)}-t{thread:02d}", b"x" * 100, 60)
            backend.get_many([f"{_key(i // 2)}-t{thread:02d}"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = backend.store
    assert store.entries == 500
    assert store.size_bytes == 500 * per_entry  # the accounting survived concurrent writers
    assert store.evictions == 4 * 2_000 - 500
