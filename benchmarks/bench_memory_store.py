"""Bounded in-process stores side by side: hit latency, Zipf hit ratio and bytes per entry, in one run.

Candidates for the structure under ``BoundedMemoryStore``, each holding the same entries:

* ``OrderedDict`` (the stdlib's C ordered dict: ``get`` + ``move_to_end``; what the store uses),
* ``lru-dict`` (C LRU, entry-count cap only),
* ``cachetools`` ``LRUCache`` with ``getsizeof`` (byte cap) and ``TLRUCache`` (per-item expiry),
* ``theine`` (Rust W-TinyLFU core, entry-count cap only, a maintenance thread per process),
* a plain ``dict`` of Litestar ``StorageObject`` (what the cache reads from ``MemoryStore`` today).

Tables:

1. ``memory_store_hits``: ns per hit. The structures alone (a hit with an expiry check), the Store API
   (``await store.get``) of ``MemoryStore`` and ``BoundedMemoryStore``, and the kit's cache hit
   (``AsyncCache.get``: entry and two versions) on each. Batches of each candidate alternate, order
   flipped every repetition; medians of the batch means, and the ratio to the anchor of the group.
2. ``memory_store_zipf``: hit ratio of a Zipf(``s``) read-through workload at the same entry
   capacity (LRU, W-TinyLFU, unbounded).
3. ``memory_store_bytes``: traced bytes per entry (``tracemalloc``) for 100,000 entries of a 65-byte
   key and a 200-byte value.

Run: ``nice -n 10 python benchmarks/bench_memory_store.py`` (needs ``cachetools``, ``lru-dict`` and
``theine`` from the ``bench`` dependency group; a missing one is left out and named). ``BENCH_REPS``
overrides the repetitions.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import random
import statistics
import time
import tracemalloc
from bisect import bisect_left
from collections.abc import Callable
from datetime import timedelta
from itertools import accumulate
from typing import Any

from _report import record

REPS = int(os.environ.get("BENCH_REPS", "11"))
BATCH = 20_000
ENTRIES = 10_000
KEY = "lak:orm:{:056d}"  # 64 characters, as the cache's keys
VALUE = b"v" * 200


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --- 1. hit latency -------------------------------------------------------------------------------


def _keys() -> list[str]:
    return [KEY.format(i) for i in range(ENTRIES)]


def _plain() -> Callable[[str], Any]:
    from litestar.stores.base import StorageObject

    plain = {key: StorageObject.new(VALUE, 3600) for key in _keys()}

    def hit(key: str) -> Any:
        item = plain.get(key)
        return None if item is None or item.expired else item.data

    return hit


def _bounded() -> Callable[[str], Any]:
    from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore

    bounded = BoundedMemoryStore(max_bytes=1 << 30)
    for key in _keys():
        bounded.write(key, VALUE, 3600)
    return bounded.read


def _lru_dict() -> Callable[[str], Any]:
    from lru import LRU

    lru: Any = LRU(ENTRIES * 2)
    deadline = time.monotonic() + 3600
    for key in _keys():
        lru[key] = (VALUE, deadline)

    def hit(key: str) -> Any:
        item = lru.get(key)
        return None if item is None or item[1] <= time.monotonic() else item[0]

    return hit


def _cachetools_sized() -> Callable[[str], Any]:
    import cachetools

    sized: Any = cachetools.LRUCache(maxsize=1 << 30, getsizeof=lambda item: len(item[0]))
    deadline = time.monotonic() + 3600
    for key in _keys():
        sized[key] = (VALUE, deadline)

    def hit(key: str) -> Any:
        item = sized.get(key)
        return None if item is None or item[1] <= time.monotonic() else item[0]

    return hit


def _cachetools_tlru() -> Callable[[str], Any]:
    import cachetools

    tlru: Any = cachetools.TLRUCache(maxsize=ENTRIES * 2, ttu=lambda _k, _v, now: now + 3600)
    for key in _keys():
        tlru[key] = VALUE
    return tlru.get


def _theine() -> Callable[[str], Any]:
    from theine import Cache

    theine: Any = Cache(ENTRIES * 2, nolock=True)
    for key in _keys():
        theine.set(key, VALUE, timedelta(seconds=3600))
    return theine.get


STRUCTURES: list[tuple[str, str | None, Callable[[], Callable[[str], Any]]]] = [
    ("dict of StorageObject (MemoryStore's dict, today)", None, _plain),
    ("OrderedDict (BoundedMemoryStore.read)", None, _bounded),
    ("lru-dict", "lru", _lru_dict),
    ("cachetools LRUCache(getsizeof)", "cachetools", _cachetools_sized),
    ("cachetools TLRUCache", "cachetools", _cachetools_tlru),
    ("theine (W-TinyLFU)", "theine", _theine),
]


def _structures() -> dict[str, Callable[[str], Any]]:
    """name -> a one-key hit function over a structure holding ENTRIES entries with an expiry."""
    return {name: build() for name, module, build in STRUCTURES if module is None or _have(module)}


def _interleaved(cells: dict[str, Callable[[int], float]]) -> dict[str, list[float]]:
    """name -> batch means (ns per op); batches alternate between cells, order flipped every repetition."""
    samples: dict[str, list[float]] = {name: [] for name in cells}
    order = list(cells)
    for rep in range(REPS):
        for name in order if rep % 2 == 0 else reversed(order):
            gc.collect()
            samples[name].append(cells[name](BATCH))
    return samples


def _sync_cell(hit: Callable[[str], Any]) -> Callable[[int], float]:
    keys = [KEY.format(i) for i in random.Random(1).choices(range(ENTRIES), k=BATCH)]

    def run(n: int) -> float:
        start = time.perf_counter_ns()
        for key in keys[:n]:
            hit(key)
        return (time.perf_counter_ns() - start) / n

    return run


async def _async_cells() -> dict[str, Callable[[int], float]]:
    """Store API and cache hits on MemoryStore and BoundedMemoryStore, timed inside one event loop."""
    from litestar.stores.memory import MemoryStore

    from litestar_alchemy_kit.cache import MISS, AsyncCache
    from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore

    loop = asyncio.get_running_loop()
    keys = [KEY.format(i) for i in random.Random(2).choices(range(ENTRIES), k=BATCH)]
    cells: dict[str, Callable[[int], float]] = {}
    for label, store in (("MemoryStore", MemoryStore()), ("BoundedMemoryStore", BoundedMemoryStore(1 << 30))):
        for key in keys:
            await store.set(key, VALUE, 3600)

        async def store_batch(n: int, store: Any = store) -> float:
            start = time.perf_counter_ns()
            for key in keys[:n]:
                await store.get(key)
            return (time.perf_counter_ns() - start) / n

        cache = AsyncCache(store, namespace="bench")
        cache_key = cache.key("q", "fingerprint", ("tenant", 1))
        assert await cache.set(cache_key, [1, "row"], await cache.versions(("t1", "t2")))

        async def cache_batch(n: int, cache: Any = cache, key: str = cache_key) -> float:
            start = time.perf_counter_ns()
            for _ in range(n):
                if await cache.get(key, ("t1", "t2")) is MISS:
                    raise AssertionError
            return (time.perf_counter_ns() - start) / n

        cells[f"Store.get: {label}"] = lambda n, batch=store_batch: _blocking(loop, batch(n))
        cells[f"AsyncCache.get hit: {label}"] = lambda n, batch=cache_batch: _blocking(loop, batch(n))
    return cells


def _blocking(loop: asyncio.AbstractEventLoop, coro: Any) -> float:
    # The cells run from a worker thread: each batch is a coroutine on the benchmark's loop.
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def hits() -> list[list[Any]]:
    sync_cells = {name: _sync_cell(hit) for name, hit in _structures().items()}
    async_cells = await _async_cells()
    rows: list[list[Any]] = []
    groups = (
        ("structure", sync_cells, "dict of StorageObject (MemoryStore's dict, today)"),
        ("Store API", {k: v for k, v in async_cells.items() if k.startswith("Store.get")}, "Store.get: MemoryStore"),
        (
            "cache hit",
            {k: v for k, v in async_cells.items() if k.startswith("AsyncCache")},
            "AsyncCache.get hit: MemoryStore",
        ),
    )
    for group, cells, anchor in groups:
        samples = await asyncio.to_thread(_interleaved, cells)
        base = statistics.median(samples[anchor])
        for name, values in samples.items():
            median = statistics.median(values)
            rows.append([group, name, round(median), round(median / base, 2)])
    return rows


# --- 2. Zipf hit ratio -----------------------------------------------------------------------------


def _zipf_trace(universe: int, length: int, s: float, seed: int) -> list[int]:
    weights = [1 / (rank**s) for rank in range(1, universe + 1)]
    cumulative = list(accumulate(weights))
    total = cumulative[-1]
    rng = random.Random(seed)
    ids = list(range(universe))
    rng.shuffle(ids)  # popularity unrelated to insertion order
    return [ids[bisect_left(cumulative, rng.random() * total)] for _ in range(length)]


def zipf(universe: int = 200_000, length: int = 600_000, capacity: int = 20_000) -> list[list[Any]]:
    from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore

    rows: list[list[Any]] = []
    for s in (0.8, 1.0):
        trace = _zipf_trace(universe, length, s, seed=7)
        keys = [KEY.format(i) for i in trace]
        seen: set[str] = set()
        unbounded_hits = 0
        for key in keys:
            unbounded_hits += key in seen
            seen.add(key)
        results = {"unbounded (MemoryStore)": unbounded_hits}
        store = BoundedMemoryStore(max_bytes=None, max_entries=capacity)
        lru_hits = 0
        for key in keys:
            if store.read(key) is None:
                store.write(key, VALUE, None)
            else:
                lru_hits += 1
        results[f"BoundedMemoryStore LRU, {capacity:,} entries"] = lru_hits
        if _have("theine"):
            from theine import Cache

            theine: Any = Cache(capacity, nolock=True)
            tiny_hits = 0
            for key in keys:
                if theine.get(key)[1]:
                    tiny_hits += 1
                else:
                    theine.set(key, VALUE)
            results[f"theine W-TinyLFU, {capacity:,} entries"] = tiny_hits
        for name, count in results.items():
            rows.append([f"s={s}", name, round(100 * count / length, 1)])
    return rows


# --- 3. bytes per entry -----------------------------------------------------------------------------


def _traced(build: Callable[[list[str]], Any], count: int = 100_000) -> float:
    keys = [KEY.format(i) + "x" for i in range(count)]  # fresh strings, built outside the trace
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = build(keys)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held
    # Key strings are counted: they were allocated before the trace, but each entry's key is what the
    # structure keeps alive; add their size explicitly.
    key_bytes = sum(len(key) + 49 for key in keys) / count
    return (after - before) / count + key_bytes


def _value() -> bytes:
    return bytes(bytearray(VALUE))  # a new object per entry, as values arriving from a codec are


def _bounded_build(keys: list[str]) -> Any:
    from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore

    store = BoundedMemoryStore(max_bytes=1 << 34)
    for key in keys:
        store.write(key, _value(), 300)
    return store


def _memory_build(keys: list[str]) -> Any:
    from litestar.stores.base import StorageObject

    return {key: StorageObject.new(_value(), 300) for key in keys}


def _lru_build(keys: list[str]) -> Any:
    from lru import LRU

    lru: Any = LRU(len(keys) + 1)
    deadline = time.monotonic() + 300
    for key in keys:
        lru[key] = (_value(), deadline)
    return lru


def _tlru_build(keys: list[str]) -> Any:
    import cachetools

    cache: Any = cachetools.TLRUCache(maxsize=len(keys) + 1, ttu=lambda _k, _v, now: now + 300)
    for key in keys:
        cache[key] = _value()
    return cache


BUILDS: list[tuple[str, str | None, Callable[[list[str]], Any]]] = [
    ("BoundedMemoryStore (ttl)", None, _bounded_build),
    ("MemoryStore dict (ttl)", None, _memory_build),
    ("lru-dict (value, deadline)", "lru", _lru_build),
    ("cachetools TLRUCache", "cachetools", _tlru_build),
]


def entry_bytes() -> list[list[Any]]:
    from litestar_alchemy_kit.cache.memory_store import ENTRY_OVERHEAD, EXPIRY_OVERHEAD

    rows = []
    for name, module, build in BUILDS:
        if module is not None and not _have(module):
            continue
        accounted = len(KEY.format(0)) + 1 + len(VALUE) + ENTRY_OVERHEAD + EXPIRY_OVERHEAD
        rows.append([name, round(_traced(build)), accounted if name.startswith("Bounded") else None])
    return rows


async def main() -> None:
    missing = [name for name in ("cachetools", "lru", "theine") if not _have(name)]
    if missing:
        print(f"left out (not installed): {', '.join(missing)}")
    load = os.getloadavg()
    hit_rows = await hits()
    note = f"load average at start {load[0]:.2f}; {REPS} interleaved batches of {BATCH:,} hits; ratio to the group's anchor."
    record(
        "memory_store_hits",
        "In-process store hits (ns per hit, median of batch means)",
        ["group", "candidate", "ns median", "ratio"],
        hit_rows,
        plot="ns median",
        note=note,
    )
    zipf_rows = zipf()
    record(
        "memory_store_zipf",
        "Zipf read-through hit ratio, 200,000 keys, 600,000 reads (%)",
        ["skew", "store", "hit ratio %"],
        zipf_rows,
        plot="hit ratio %",
    )
    byte_rows = entry_bytes()
    record(
        "memory_store_bytes",
        "Bytes per entry, 65-byte key and 200-byte value (tracemalloc)",
        ["structure", "traced bytes/entry", "accounted by the store"],
        byte_rows,
        plot="traced bytes/entry",
    )
    for rows in (hit_rows, zipf_rows, byte_rows):
        for row in rows:
            print(" | ".join(str(cell) for cell in row))
        print()


if __name__ == "__main__":
    asyncio.run(main())
