"""Soak: bounded memory under a million distinct keys, and expired entries reclaimed from a plain MemoryStore.

1. ``BoundedMemoryStore(max_bytes=50 MB)``: 1,000,000 distinct keys (64-byte key, 200-byte value,
   300 s ttl) written in turn, as distinct filters, pages and per-user scopes produce them. Peak
   traced memory (``tracemalloc``, everything the process allocates after the store is built) must
   stay within 10% of the cap.
2. Zipf(1.0) read-through over a universe of 1,000,000 keys, 2,000,000 reads: hit ratio of the
   50 MB bounded store against an unbounded store (every key ever written kept: a hit is any key
   seen before), and what the unbounded store would hold.
3. ``AsyncCache`` on Litestar's plain ``MemoryStore`` with a 1 s ttl: 300,000 distinct keys written
   over about 10 s, then, once they have all expired, 10,000 more: expired entries still held at
   the end with the cache's sweep (none), against the store's own read-time expiry alone (all of them).

Run: ``nice -n 10 python benchmarks/soak_memory_store.py`` (about two minutes). Results go to
``docs/benchmarks/_generated/memory_store_soak.json``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import tracemalloc
from bisect import bisect_left
from itertools import accumulate
from typing import Any

from _report import record

CAP = 50 * 1000 * 1000
DISTINCT = 1_000_000
VALUE = b"v" * 200
KEY = "lak:orm:{:056d}"


def distinct_keys() -> list[Any]:
    from litestar_alchemy_kit.cache import BoundedMemoryStore

    tracemalloc.start()
    store = BoundedMemoryStore(max_bytes=CAP)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    peak_size = 0
    for i in range(DISTINCT):
        store.write(KEY.format(i), bytes(bytearray(VALUE)), 300)
        if i % 50_000 == 0:
            peak_size = max(peak_size, store.size_bytes)
    elapsed = time.perf_counter() - started
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak -= base
    return [
        ["distinct keys", f"{DISTINCT:,} writes, 50 MB cap", round(peak / 1e6, 1), round(100 * peak / CAP, 1)],
        [
            "entries held at the end",
            f"{store.entries:,} ({store.evictions:,} evicted)",
            round((current - base) / 1e6, 1),
            None,
        ],
        ["write rate (traced)", f"{DISTINCT / elapsed:,.0f} writes/s", None, None],
    ]


def zipf_trace(universe: int, length: int, s: float, seed: int) -> list[int]:
    cumulative = list(accumulate(1 / (rank**s) for rank in range(1, universe + 1)))
    total = cumulative[-1]
    rng = random.Random(seed)
    return [bisect_left(cumulative, rng.random() * total) for _ in range(length)]


def zipf() -> list[Any]:
    from litestar_alchemy_kit.cache import BoundedMemoryStore
    from litestar_alchemy_kit.cache.memory_store import ENTRY_OVERHEAD, EXPIRY_OVERHEAD

    trace = zipf_trace(DISTINCT, 2 * DISTINCT, 1.0, seed=11)
    store = BoundedMemoryStore(max_bytes=CAP)
    hits = 0
    seen: set[int] = set()
    unbounded_hits = 0
    for rank in trace:
        key = KEY.format(rank)
        if store.read(key) is None:
            store.write(key, VALUE, 300)
        else:
            hits += 1
        unbounded_hits += rank in seen
        seen.add(rank)
    per_entry = len(KEY.format(0)) + len(VALUE) + ENTRY_OVERHEAD + EXPIRY_OVERHEAD
    return [
        [
            "Zipf 1.0, bounded 50 MB",
            f"{store.entries:,} entries",
            round(CAP / 1e6, 1),
            round(100 * hits / len(trace), 1),
        ],
        [
            "Zipf 1.0, unbounded",
            f"{len(seen):,} entries",
            round(len(seen) * per_entry / 1e6, 1),
            round(100 * unbounded_hits / len(trace), 1),
        ],
    ]


async def memory_store_sweep(count: int = 300_000, seconds: float = 10.0) -> list[Any]:
    from litestar.stores.memory import MemoryStore

    from litestar_alchemy_kit.cache import AsyncCache
    from litestar_alchemy_kit.cache.backends import StoreBackend

    rows = []
    for label, backend in (("with the cache's sweep", None), ("read-time expiry only", StoreBackend)):
        store = MemoryStore()
        cache = AsyncCache(store if backend is None else backend(store), namespace="soak")
        versions = await cache.versions(["t"])
        started = time.perf_counter()
        peak = 0
        for i in range(count):
            await cache.set(cache.key("row", str(i)), i, versions, ttl=1)
            if i % 1000 == 0:
                peak = max(peak, len(store._store))  # noqa: SLF001 - counting what the store holds
                pause = started + seconds * i / count - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(2.1)  # every entry written so far has expired
        for i in range(count, count + 10_000):  # traffic goes on, to other keys
            await cache.set(cache.key("row", str(i)), i, versions, ttl=60)
        data = store._store  # noqa: SLF001 - counting what the store holds
        expired = sum(1 for item in data.values() if item.expired)
        rows.append(
            [f"MemoryStore, 1 s ttl, {label}", f"{count:,} writes in {elapsed:.0f} s", peak, len(data), expired]
        )
        await cache.close()
    return rows


def main() -> None:
    load = os.getloadavg()
    bounded = distinct_keys()
    ratios = zipf()
    sweep = asyncio.run(memory_store_sweep())
    rows = [*bounded, *ratios]
    record(
        "memory_store_soak",
        "Soak: BoundedMemoryStore, 50 MB cap (MB; % of the cap for the peak, hit ratio % for Zipf)",
        ["run", "detail", "MB", "% / hit %"],
        rows,
        note=f"load average at start {load[0]:.2f}. Peak is tracemalloc's peak of everything allocated after the store was built.",
    )
    record(
        "memory_store_sweep",
        "Soak: expired entries in a plain MemoryStore (entries held)",
        ["run", "detail", "peak entries", "entries at the end", "expired entries at the end"],
        sweep,
        plot="expired entries at the end",
    )
    for row in [*rows, *sweep]:
        print(" | ".join(str(cell) for cell in row))
    peak_percent = bounded[0][3]
    if peak_percent > 110:
        msg = f"peak traced memory {peak_percent}% of the cap: over the 10% allowance"
        raise SystemExit(msg)


if __name__ == "__main__":
    main()
