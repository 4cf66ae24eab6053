"""What the commit policies cost a write: a commit with invalidation, ``strict`` / ``available`` vs today's single bump.

The anchor is ``commit_policy=None``: one ``MSET`` after the database commits. Both policies add a marker
script before the commit and settle with a script after it (two round trips to the store instead of one);
``strict`` and ``available`` differ only when the store fails, so their happy paths should cost the same.
Each variant updates one row through a cached repository with ``auto_commit=True`` (flush, mark, COMMIT,
settle), in interleaved batches; medians per commit are reported with the ratio to the anchor. Also timed: the
invalidation alone (``bump`` vs ``mark`` + ``bump(marker=...)``), which is what the policies change.

Databases: SQLite in memory (the cheapest commit, so the largest relative cost) and PostgreSQL when reachable
(``LAK_BENCH_POSTGRES_URL``, default the local server; a private database is created and dropped). Store:
Redis at ``LAK_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), under a namespace of its own.

Run: ``taskset -c 1 nice python benchmarks/bench_commit_policy.py`` (``BENCH_ROUNDS`` batches, default 15).
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from _models import BenchBase, Product
from _pin import pin_client
from _report import record
from redis.asyncio import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from litestar_alchemy_kit.cache import AsyncCache, CacheOptions, PipelinedRedisBackend
from litestar_alchemy_kit.repository import CachedAsyncRepository

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
N = 200
REDIS_URL = os.environ.get("LAK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("LAK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
POLICIES: dict[str, str | None] = {"today (None)": None, "available": "available", "strict": "strict"}


class ProductRepository(CachedAsyncRepository[Product]):
    model_type = Product


def _row() -> Product:
    return Product(
        name="p",
        sku="SKU-1",
        description="d",
        quantity=0,
        price=decimal.Decimal(1),
        weight=1.0,
        active=True,
        category="c",
        created=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )


async def _prepare(engine: AsyncEngine) -> uuid.UUID:
    async with engine.begin() as connection:
        await connection.run_sync(BenchBase.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        product = _row()
        session.add(product)
        await session.commit()
        return product.id


def _committer(engine: AsyncEngine, cache: AsyncCache, row_id: uuid.UUID) -> Callable[[int], Awaitable[Any]]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def commit(value: int) -> None:
        async with sessions() as session:
            await ProductRepository(session=session, cache=cache).update(
                Product(id=row_id, quantity=value), auto_commit=True
            )

    return commit


async def _batch(run: Callable[[int], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    for i in range(N):
        await run(i)
    return (time.perf_counter() - start) / N * 1e6


async def _interleaved(variants: dict[str, Callable[[int], Awaitable[Any]]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():  # warm every variant
        await _batch(run)
    for _ in range(ROUNDS):
        for name, run in variants.items():
            samples[name].append(await _batch(run))
    return {name: statistics.median(values) for name, values in samples.items()}


def _caches(client: Redis) -> dict[str, AsyncCache]:
    namespace = f"lakbenchcp{uuid.uuid4().hex[:6]}"
    return {
        name: AsyncCache(PipelinedRedisBackend(client), namespace, CacheOptions(commit_policy=policy))
        for name, policy in POLICIES.items()
    }


async def _commits(label: str, engine: AsyncEngine, client: Redis, rows: list[list[Any]]) -> None:
    row_id = await _prepare(engine)
    caches = _caches(client)
    medians = await _interleaved({name: _committer(engine, cache, row_id) for name, cache in caches.items()})
    anchor = medians["today (None)"]
    for name, value in medians.items():
        rows.append([label, name, round(value, 1), round(value / anchor, 3)])
        print(f"{label:<34} {name:<14} {value:>10.1f} {value / anchor:>7.3f}")
    for cache in caches.values():
        await cache.close()


async def _invalidation_alone(client: Redis, rows: list[list[Any]]) -> None:
    tags = ["lak_bench_product", "lak_bench_product:row:1"]
    caches = _caches(client)

    def bump(cache: AsyncCache) -> Callable[[int], Awaitable[Any]]:
        async def run(_: int) -> None:
            await cache.bump(tags)

        return run

    def two_phase(cache: AsyncCache) -> Callable[[int], Awaitable[Any]]:
        async def run(_: int) -> None:
            await cache.bump(tags, marker=await cache.mark(tags))

        return run

    variants = {
        "today (None)": bump(caches["today (None)"]),
        "available": two_phase(caches["available"]),
        "strict": two_phase(caches["strict"]),
    }
    medians = await _interleaved(variants)
    anchor = medians["today (None)"]
    for name, value in medians.items():
        rows.append(["invalidation alone (2 tags)", name, round(value, 1), round(value / anchor, 3)])
        print(f"{'invalidation alone (2 tags)':<34} {name:<14} {value:>10.1f} {value / anchor:>7.3f}")
    for cache in caches.values():
        await cache.close()


def _private_postgres() -> tuple[str, Callable[[], None]] | None:
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    name = f"lakbenchcp{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); its rows are skipped")
        admin.dispose()
        return None

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    base = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}", drop


async def main() -> None:
    client = Redis.from_url(REDIS_URL)
    rows: list[list[Any]] = []
    print(f"commit with invalidation, µs per commit (median of {ROUNDS} interleaved batches of {N})")
    print(f"{'setup':<34} {'policy':<14} {'µs':>10} {'ratio':>7}")
    await _invalidation_alone(client, rows)
    sqlite = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    await _commits("aiosqlite in memory + Redis", sqlite, client, rows)
    await sqlite.dispose()
    postgres = _private_postgres()
    if postgres is not None:
        url, drop = postgres
        engine = create_async_engine(url)
        try:
            await _commits("asyncpg + Redis", engine, client, rows)
        finally:
            await engine.dispose()
            drop()
    await client.aclose()
    load = os.getloadavg()
    note = (
        f"Load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {ROUNDS} interleaved batches of"
        f" {N} commits; the store and the database share the machine with the client."
    )
    print(note)
    record(
        "commit_policy",
        "Write-path cost of the commit policies (µs per commit with invalidation)",
        ["setup", "policy", "µs per commit", "ratio to today"],
        rows,
        plot="ratio to today",
        note=note,
    )


if __name__ == "__main__":
    print(pin_client())
    asyncio.run(main())
