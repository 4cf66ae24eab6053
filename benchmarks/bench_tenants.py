"""A multi-tenant workload with writes, and the request path around a hit.

1. **Workload.** 20 tenants share one table (50 rows each, row popularity Zipf-like within a
   tenant). A fixed trace of requests: 95% reads (half ``get(pk)`` of one of the tenant's rows,
   half the tenant's list) and 5% writes (one row of the tenant updated and committed). Each
   request opens a session and a repository restricted to its tenant: AA's with a tenant-filtered
   base statement, the kit's bound with ``tenant=`` to the column the model declares once (what the
   kit's providers build; the same SQL filter, and the tenant is the cache scope). The same trace runs uncached (AA's repository), on the kit
   with ``MemoryStore`` and with ``RedisStore``, each on its own copy of the data, in interleaved
   batches after a warm-up prefix. Reported: the kit's measured read hit rate next to two
   simulations of the same trace (per row / per tenant invalidation, the best fine tags can do,
   and per table, what a coarse cache does), and requests per second (median of batches) against
   uncached. Then, for the Redis variants, the Redis commands (round trips) per request and the
   round trip itself, measured in the same batches: what the Redis variant costs beyond the
   MemoryStore variant against what its round trips cost, and the round trip a 1.5x would need.
2. **Hit cost flat in size.** ``get(pk)`` hits spread uniformly over 1k and over 100k cached rows,
   interleaved batches, on MemoryStore and Redis.
3. **Per-request cost.** New session + service + ``get`` hit + close on MemoryStore, against its
   floor (an ``AsyncSession`` open+close plus a long-lived repository's hit, each timed in a loop of
   its own and summed, as the issue defines it), and the service construction against AA's. Also
   the two parts of the floor run one after the other in one loop (the same calls, nothing of the
   request's own), and as a control the session followed by a pure-Python loop: the control adds
   up, the hit after a session costs more than the hit timed alone. A second control closes the session
   without SQLAlchemy's greenlet bridge (``sync_session.close()``): the hit after it adds up, so the excess
   follows the async close (its greenlet and event-loop turn), not anything the request itself does.
4. **Commit with bump.** Update one row and commit, with the session bound to a Redis cache against the
   same without a cache: under the default ``commit_policy="available"`` (a marker before the database
   COMMIT, settled by the bump after it: two round trips on the pipelined connection) and under
   ``commit_policy=None`` (the bump alone, one round trip, without the dead-writer guarantee); on a table
   declaring ``tenant_column(immutable=True)`` too (no read of the row's tenant), with each policy: the
   last, neither read nor marker, is the floor of what the kit adds to a commit. Also a batch
   write: the 50 rows of one tenant updated in one flush (their tenants read back in one statement), against
   AA's same write. 30 rounds of 25 commits, the order rotated each round; the ratio is the median of each
   round's ratio to the anchor of that round (AA's same write; the database's commit latency drifts more
   than the kit's share of it).
5. **Attaching a list hit.** A 100-row list per request: uncached, and a hit returned detached
   (``auto_expunge=True``), attached to the session (AA's default), and attached the previous way
   (``session.merge(load=False)`` per instance).

Run: ``python benchmarks/bench_tenants.py`` (Redis on 127.0.0.1:6379 or LAK_REDIS_URL; PostgreSQL on
127.0.0.1:5432 or LAK_POSTGRES_URL, else SQLite only). ``BENCH_SIZES=1000,100000`` sets section 2's sizes;
``BENCH_SECTIONS=2,3`` runs (and records) only those sections (default: all five).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from typing import Any, NamedTuple

from _models import BenchBase
from _pin import pin_client
from _report import record
from advanced_alchemy.mixins import UUIDPrimaryKey
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import String, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

from litestar_alchemy_kit.cache import AsyncCache, CacheOptions
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.repository import CachedAsyncRepository, bind_cache
from litestar_alchemy_kit.service import CachedAsyncRepositoryService

REDIS_URL = os.environ.get("LAK_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("LAK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANTS, ROWS_PER_TENANT, WRITE_SHARE = 20, 50, 0.05
WARMUP, BATCH, BATCHES = 1500, 500, int(os.environ.get("BENCH_BATCHES", "8"))
COMMIT_ROUNDS, COMMITS_PER_ROUND = 30, 25
REDIS_TARGET = 1.5  # the throughput target on Redis, against uncached
MANY_ROWS = 50  # rows of one tenant a batch write updates in section 4
MANY_ANCHOR = f"AA commit, {MANY_ROWS} rows of one tenant"
SIZES = [int(size) for size in os.environ.get("BENCH_SIZES", "1000,100000").split(",")]
PINNED = "client not pinned"
SECTIONS = {int(section) for section in os.environ.get("BENCH_SECTIONS", "1,2,3,4,5").split(",")}


class TenantRow(UUIDPrimaryKey, BenchBase):
    """A row of a table that tenants share: its tenant column is declared once."""

    __tablename__ = "lak_bench_tenant_row"

    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(60))
    value: Mapped[int]


class FixedTenantRow(UUIDPrimaryKey, BenchBase):
    """The same row, its tenant declared immutable: a flush trusts the session's value and reads nothing back."""

    __tablename__ = "lak_bench_fixed_tenant_row"

    tenant: Mapped[int] = tenant_column(immutable=True)
    name: Mapped[str] = mapped_column(String(60))
    value: Mapped[int]


class PlainRepo(SQLAlchemyAsyncRepository[TenantRow]):
    model_type = TenantRow


class KitRepo(CachedAsyncRepository[TenantRow]):
    model_type = TenantRow


class KitService(CachedAsyncRepositoryService[TenantRow, KitRepo]):
    repository_type = KitRepo


class PlainService(SQLAlchemyAsyncRepositoryService[TenantRow, PlainRepo]):
    repository_type = PlainRepo


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _median_of(batches: list[float]) -> float:
    return statistics.median(batches)


# --- data -----------------------------------------------------------------------------------


async def _postgres(name: str) -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except Exception:
        return None
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://", 1).rsplit("/", 1)[0] + f"/{name}"


async def _drop_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


async def _engine(url: str, rows: list[dict[str, Any]], *, fixed: bool = False) -> Any:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(BenchBase.metadata.drop_all)
        await conn.run_sync(BenchBase.metadata.create_all)
        for start in range(0, len(rows), 5000):
            await conn.execute(insert(TenantRow), rows[start : start + 5000])
            if fixed:
                await conn.execute(insert(FixedTenantRow), rows[start : start + 5000])
    return engine


def _rows(count: int, tenants: int) -> list[dict[str, Any]]:
    return [{"id": uuid.UUID(int=i + 1), "tenant": i % tenants, "name": f"row {i}", "value": 0} for i in range(count)]


def _trace(seed: int = 11) -> list[tuple[str, int, uuid.UUID]]:
    """(op, tenant, row id) for WARMUP + BATCHES * BATCH requests; op is get, list or write."""
    rng = random.Random(seed)
    ids = {t: [uuid.UUID(int=t + TENANTS * i + 1) for i in range(ROWS_PER_TENANT)] for t in range(TENANTS)}
    weights = [1 / (rank + 1) for rank in range(ROWS_PER_TENANT)]
    trace = []
    for _ in range(WARMUP + BATCHES * BATCH):
        tenant = rng.randrange(TENANTS)
        row = rng.choices(ids[tenant], weights)[0]
        draw = rng.random()
        op = "write" if draw < WRITE_SHARE else ("get" if draw < (1 + WRITE_SHARE) / 2 else "list")
        trace.append((op, tenant, row))
    return trace


def _simulate(trace: list[tuple[str, int, uuid.UUID]], *, fine: bool) -> float:
    """Read hit rate after the warm-up if entries were invalidated per row and tenant (``fine``) or per table."""
    valid: set[Any] = set()
    hits = reads = 0
    for index, (op, tenant, row) in enumerate(trace):
        if op == "write":
            if fine:
                valid.discard(("get", row))
                valid.discard(("list", tenant))
            else:
                valid.clear()
            continue
        entry = ("get", row) if op == "get" else ("list", tenant)
        if index >= WARMUP:
            reads += 1
            hits += entry in valid
        valid.add(entry)
    return hits / reads


# --- 1. the workload --------------------------------------------------------------------------


async def _request(sessions: Any, variant: tuple[Any, bool], op: str, tenant: int, row: uuid.UUID) -> None:
    cache, expunge = variant
    async with sessions() as session:
        if cache is None:
            base = select(TenantRow).where(TenantRow.tenant == tenant)
            repo: Any = PlainRepo(session=session, statement=base, auto_expunge=expunge)
        else:
            # bound to the tenant of the declared column, as the kit's providers build it: the same filter
            repo = KitRepo(session=session, cache=cache, tenant=tenant, auto_expunge=expunge)
        if op == "get":
            await repo.get(row)
        elif op == "list":
            await repo.get_many()
        else:
            found = await session.get(TenantRow, row)
            assert found is not None
            found.value += 1
            await session.commit()


async def _prepare(url_for: Any, variants: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A database with the same rows per variant, and its session factory (bound to the variant's cache)."""
    rows = _rows(TENANTS * ROWS_PER_TENANT, TENANTS)
    engines, sessions = {}, {}
    for index, (name, (cache, _)) in enumerate(variants.items()):
        url = await url_for(f"v{index}")
        engines[name] = (await _engine(url, rows), url)
        factory = async_sessionmaker(engines[name][0], expire_on_commit=False)
        if cache is not None:
            bind_cache(factory, cache)
        sessions[name] = factory
    return engines, sessions


async def _dispose(engines: dict[str, Any], variants: dict[str, Any]) -> None:
    for cache, _ in variants.values():
        if cache is not None:
            await cache.clear()
            await cache.close()
    for engine, url in engines.values():
        await engine.dispose()
        if url.startswith("postgresql"):
            await _drop_postgres(url)


async def workload(db: str, url_for: Any) -> tuple[list[list[Any]], list[list[Any]]]:
    from litestar.stores.memory import MemoryStore
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    trace = _trace()
    client = Redis.from_url(REDIS_URL)

    def memory(*, expunge: bool) -> tuple[Any, bool]:
        namespace = f"lakten{uuid.uuid4().hex[:8]}"
        return AsyncCache(MemoryStore(), namespace=namespace), expunge

    def redis(*, expunge: bool) -> tuple[Any, bool]:
        namespace = f"lakten{uuid.uuid4().hex[:8]}"
        return AsyncCache(RedisStore(client, namespace=namespace), namespace=namespace), expunge

    # each variant next to the uncached run with the same auto_expunge: AA's default False (the
    # session's own instances, what an app built on AA gets) and True (detached, the guide's advice)
    variants: dict[str, tuple[Any, bool]] = {
        "uncached (AA repo)": (None, False),
        "kit MemoryStore": memory(expunge=False),
        "kit RedisStore": redis(expunge=False),
        "uncached (AA repo), auto_expunge=True": (None, True),
        "kit MemoryStore, auto_expunge=True": memory(expunge=True),
        "kit RedisStore, auto_expunge=True": redis(expunge=True),
    }
    engines, sessions = await _prepare(url_for, variants)
    timings: dict[str, list[float]] = {name: [] for name in variants}
    hits = {name: [0, 0] for name in variants}
    for name, variant in variants.items():
        for op, tenant, row in trace[:WARMUP]:
            await _request(sessions[name], variant, op, tenant, row)
    trips = {name: 0 for name in variants if name.startswith("kit RedisStore")}
    rtts: list[tuple[float, float]] = []
    for batch in range(BATCHES):
        chunk = trace[WARMUP + batch * BATCH : WARMUP + (batch + 1) * BATCH]
        reads = sum(op != "write" for op, _, _ in chunk)
        rtts.append(await _round_trip(variants["kit RedisStore"][0]))
        for name, variant in variants.items():
            cache = variant[0]
            before = cache.stats["hit"] if cache is not None else 0
            commands = await _commands(client) if name in trips else 0
            start = time.perf_counter()
            for op, tenant, row in chunk:
                await _request(sessions[name], variant, op, tenant, row)
            timings[name].append(len(chunk) / (time.perf_counter() - start))
            if name in trips:
                trips[name] += await _commands(client) - commands
            hits[name][0] += cache.stats["hit"] - before if cache is not None else 0
            hits[name][1] += reads
    fine, coarse = _simulate(trace, fine=True), _simulate(trace, fine=False)
    uncached = {expunge: _median_of(timings[name]) for name, (cache, expunge) in variants.items() if cache is None}
    out = []
    for name, (cache, expunge) in variants.items():
        rate = None if cache is None else hits[name][0] / hits[name][1] * 100
        rps = _median_of(timings[name])
        out.append([db, name, rps, rps / uncached[expunge], rate, fine * 100, coarse * 100])
    floors = _trip_floors(db, variants=variants, timings=timings, uncached=uncached, trips=trips, rtts=rtts)
    await _dispose(engines, variants)
    await client.aclose()
    return out, floors


def _trip_floors(
    db: str,
    *,
    variants: dict[str, tuple[Any, bool]],
    timings: dict[str, list[float]],
    uncached: dict[bool, float],
    trips: dict[str, int],
    rtts: list[tuple[float, float]],
) -> list[list[Any]]:
    """Section 1b's rows: each Redis variant's round trips per request against what it costs over its MemoryStore twin."""
    tight, idle = _median_of([rtt[0] for rtt in rtts]), _median_of([rtt[1] for rtt in rtts])
    floors = []
    for name, count in trips.items():
        expunge = variants[name][1]
        per_request = count / (BATCHES * BATCH)
        redis_us = 1e6 / _median_of(timings[name])
        memory_us = 1e6 / _median_of(timings[name.replace("RedisStore", "MemoryStore")])
        uncached_us = 1e6 / uncached[expunge]
        floors.append(
            [
                db,
                name,
                per_request,
                tight,
                idle,
                redis_us - memory_us,
                (redis_us - memory_us) / per_request / idle,
                uncached_us / (memory_us + per_request * tight),
                uncached_us / (memory_us + per_request * idle),
                (uncached_us / REDIS_TARGET - memory_us) / per_request,
            ]
        )
    return floors


async def _round_trip(cache: AsyncCache) -> tuple[float, float]:
    """µs of one round trip on the cache's own Redis connection, a one-key ``MGET`` of an absent key: back to back, and
    each after 1 ms asleep (a request's round trips are that far apart: the server and the client go idle in between,
    and waking a virtual CPU costs). Medians of 200 each."""
    get_many = cache.backend.get_many
    out = []
    for pause in (0.0, 0.001):
        times = []
        for _ in range(200):
            if pause:
                await asyncio.sleep(pause)
            start = time.perf_counter()
            await get_many(["lak_bench_rtt_probe"])
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times) * 1e6)
    return out[0], out[1]


async def _commands(client: Any) -> int:
    """Commands clients sent the Redis server so far: each a round trip, as requests run one at a time.

    ``INFO commandstats`` counts the commands a script runs too: the kit's scripts (marker, settle, initial versions)
    run one ``GET`` and one ``SET`` per key, and the kit sends no ``GET`` of its own, so two commands per ``GET``
    are a script's. The ``INFO`` calls are left out.
    """
    stats = {command: int(entry["calls"]) for command, entry in (await client.info("commandstats")).items()}
    scripted = 2 * stats.get("cmdstat_get", 0)
    return sum(calls for command, calls in stats.items() if not command.startswith("cmdstat_info")) - scripted


# --- 2. hit cost flat in size ---------------------------------------------------------------------


def _all_hits(cache: Any, before: dict[str, int], reads: int, what: str) -> bool:
    """Whether the batch was all hits; one with a few misses (a store call that failed open) is dropped.

    On a loaded machine a Redis round trip can outlast the store timeout: the call fails open (a miss,
    and the circuit breaker refuses the next call or two, misses without an error). More than a few
    misses is not that, and fails the run.
    """
    counts = {name: cache.stats[name] - before.get(name, 0) for name in cache.stats}
    if counts["hit"] == reads:
        return True
    if reads - counts["hit"] <= 3:
        print(f"batch dropped ({what}): {counts}")
        return False
    msg = f"every timed get must be a hit ({what}): {counts}"
    raise AssertionError(msg)


def _stored_keys(cache: AsyncCache) -> list[str]:
    """The keys a ``MemoryStore`` cache holds (entries and tags)."""
    backend: Any = cache.backend
    return list(backend.store._store)  # noqa: SLF001 - the anchor reads what the hits read


async def _two_lookups(cache: AsyncCache, keys: list[str], rng: random.Random) -> float:
    """µs for the store read alone of a hit that size makes cold: two stored keys (an entry, a row tag), read
    through the backend's ``get_many`` from ``MemoryStore``'s dict. Fresh string objects, as a hit builds its own."""
    get_many = cache.backend.get_many
    pairs = [["".join(rng.choice(keys)), "".join(rng.choice(keys))] for _ in range(2000)]
    start = time.perf_counter()
    for pair in pairs:
        await get_many(pair)
    return (time.perf_counter() - start) / len(pairs) * 1e6


class _SizeCase(NamedTuple):
    size: int
    cache: AsyncCache
    repo: KitRepo
    ids: list[uuid.UUID]
    session: Any
    hits: list[float]  # µs per hit, per batch
    alone: list[float]  # µs per two store lookups, per batch (MemoryStore only)


async def _size_case(sessions: Any, store: Any, size: int) -> _SizeCase:
    """A cache on ``store`` holding ``size`` rows' ``get(pk)`` entries, and a long-lived repository on it."""
    namespace = f"lakhc{uuid.uuid4().hex[:8]}"
    # populating 100k rows takes longer than the default ttl on a loaded machine
    cache = AsyncCache(store, namespace=namespace, options=CacheOptions(default_ttl=None))
    ids = [uuid.UUID(int=i + 1) for i in range(size)]
    for start in range(0, size, 500):
        # populate: each get misses once and stores its row; a session per slice, since under
        # SQLite's isolation only a read that opens its transaction may populate
        async with sessions() as filler:
            for item_id in ids[start : start + 500]:
                await KitRepo(session=filler, cache=cache).get(item_id)
                await filler.rollback()
    session = sessions()
    return _SizeCase(size, cache, KitRepo(session=session, cache=cache), ids, session, [], [])


async def _time_hits(case: _SizeCase, rng: random.Random, what: str) -> None:
    # fresh key objects, as a request parses its own: picking the populate loop's objects would
    # time reads of a 100k-object list spread over the heap (cache misses that grow with size
    # but are the benchmark's, not the cache's)
    picks = [uuid.UUID(int=rng.choice(case.ids).int) for _ in range(2000)]
    before = dict(case.cache.stats)
    start = time.perf_counter()
    for item_id in picks:
        await case.repo.get(item_id)
    elapsed = time.perf_counter() - start
    if _all_hits(case.cache, before, len(picks), what):
        case.hits.append(elapsed / len(picks) * 1e6)


async def hit_cost(tmp: str) -> list[list[Any]]:
    """Section 2: a long-lived repository's ``get(pk)`` hit at each size, interleaved; on ``MemoryStore`` beside the
    anchor, two lookups of the store alone at the same size (what the hardware charges for a bigger dict)."""
    from litestar.stores.memory import MemoryStore
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    engine = await _engine(f"sqlite+aiosqlite:///{tmp}/size.db", _rows(max(SIZES), TENANTS))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    client = Redis.from_url(REDIS_URL)
    out: list[list[Any]] = []
    for store_name, make_store in (
        ("MemoryStore", MemoryStore),
        ("RedisStore", lambda: RedisStore(client, namespace=f"lakhc{uuid.uuid4().hex[:6]}")),
    ):
        cases = [await _size_case(sessions, make_store(), size) for size in SIZES]
        keys = [_stored_keys(case.cache) if store_name == "MemoryStore" else [] for case in cases]
        rng = random.Random(5)
        for _ in range(BATCHES):
            for case, stored in zip(cases, keys, strict=True):
                if stored:
                    case.alone.append(await _two_lookups(case.cache, stored, rng))
                await _time_hits(case, rng, f"{store_name}, {case.size} rows")
        small = _median_of(cases[0].hits)
        out.extend([store_name, case.size, _median_of(case.hits), _median_of(case.hits) / small] for case in cases)
        if cases[0].alone:
            small = _median_of(cases[0].alone)
            label = f"{store_name}: the store read alone (2 stored keys)"
            out.extend([label, case.size, _median_of(case.alone), _median_of(case.alone) / small] for case in cases)
        for case in cases:
            await case.session.close()
            await case.cache.clear()
            await case.cache.close()
    await client.aclose()
    await engine.dispose()
    return out


# --- 3. per-request cost ----------------------------------------------------------------------------


async def _built(service: object) -> None:
    del service


def _pure_loop() -> int:
    total = 0
    for number in range(600):
        total += number
    return total


def _request_cases(sessions: Any, repo: KitRepo, item_id: uuid.UUID) -> dict[str, Any]:
    """The request, and the two parts of its floor timed alone."""

    async def session_only() -> None:
        async with sessions():
            pass

    async def hit() -> None:
        await repo.get(item_id)

    async def request() -> None:
        async with sessions() as session:
            await KitService(session=session, scope=3).get(item_id)

    return {"session open+close": session_only, "long-lived hit": hit, "request": request}


def _floor_cases(sessions: Any, repo: KitRepo, item_id: uuid.UUID) -> dict[str, Any]:
    """The floor's two parts one after the other in one loop, and the control: a pure-Python loop after a session."""

    async def session_then_hit() -> None:
        async with sessions():
            pass
        await repo.get(item_id)

    async def pure() -> None:
        _pure_loop()

    async def session_then_pure() -> None:
        async with sessions():
            pass
        _pure_loop()

    async def sync_session_only() -> None:
        sessions().sync_session.close()

    async def sync_session_then_hit() -> None:
        sessions().sync_session.close()
        await repo.get(item_id)

    return {
        "session then long-lived hit": session_then_hit,
        "pure loop": pure,
        "session then pure loop": session_then_pure,
        "sync session open+close": sync_session_only,
        "sync session then long-lived hit": sync_session_then_hit,
    }


async def request_cost(tmp: str) -> list[list[Any]]:
    from litestar.stores.memory import MemoryStore

    engine = await _engine(f"sqlite+aiosqlite:///{tmp}/request.db", _rows(100, 10))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    cache = AsyncCache(MemoryStore(), namespace=f"lakrq{uuid.uuid4().hex[:8]}")
    bind_cache(sessions, cache)
    item_id = uuid.UUID(int=4)  # tenant 3
    long_lived = sessions()
    repo = KitRepo(session=long_lived, cache=cache, scope=3)
    await repo.get(item_id)

    cases = _request_cases(sessions, repo, item_id) | _floor_cases(sessions, repo, item_id)
    cases |= {
        "kit service built": lambda: _built(KitService(session=long_lived, scope=3)),
        "AA service built": lambda: _built(PlainService(session=long_lived)),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(BATCHES):
        for name, call in cases.items():
            start = time.perf_counter()
            for _ in range(1000):
                await call()
            timings[name].append((time.perf_counter() - start) / 1000 * 1e6)
    await long_lived.close()
    await cache.close()
    await engine.dispose()
    medians = {name: _median_of(values) for name, values in timings.items()}
    floor = medians["session open+close"] + medians["long-lived hit"]
    sequenced = medians["session then long-lived hit"]
    control = medians["session open+close"] + medians["pure loop"]
    return [
        ["request (session + service + get hit + close)", medians["request"], medians["request"] / floor],
        ["floor (session open+close + long-lived hit, timed apart and summed)", floor, 1.0],
        ["session open+close, then the long-lived hit, in one loop", sequenced, sequenced / floor],
        ["request against that sequenced floor", medians["request"], medians["request"] / sequenced],
        [
            "control: session open+close, then a pure-Python loop, vs summed",
            medians["session then pure loop"],
            medians["session then pure loop"] / control,
        ],
        [
            "control: the session closed without the greenlet bridge (sync_session.close()), then the hit, vs summed",
            medians["sync session then long-lived hit"],
            medians["sync session then long-lived hit"]
            / (medians["sync session open+close"] + medians["long-lived hit"]),
        ],
        ["kit service built", medians["kit service built"], medians["kit service built"] / medians["AA service built"]],
        ["AA service built", medians["AA service built"], 1.0],
    ]


# --- 4. commit with bump ---------------------------------------------------------------------


def _update_commit(factory: Any, model: type[TenantRow | FixedTenantRow] = TenantRow) -> Any:
    """One write as a handler makes it: load a row in a new session, change a column, commit."""

    async def run() -> None:
        async with factory() as session:
            row = await session.get(model, uuid.UUID(int=7))
            row.value += 1
            await session.commit()

    return run


def _update_many_commit(factory: Any) -> Any:
    """A batch write: load every row of one tenant, change a column of each, commit (one flush)."""

    async def run() -> None:
        async with factory() as session:
            for row in await session.scalars(select(TenantRow).where(TenantRow.tenant == 6)):
                row.value += 1
            await session.commit()

    return run


class CommitSessions(NamedTuple):
    """Session factories for an update + commit, and the caches two of them are bound to."""

    plain: Any  # no cache
    bound: Any  # a Redis cache, the default commit_policy ("available": a marker before COMMIT, a bump after)
    unmarked: Any  # a Redis cache with commit_policy=None: the bump alone, no dead-writer guarantee
    caches: tuple[AsyncCache, AsyncCache]


async def commit_sessions(engine: Any, client: Any, prefix: str, anchor_engine: Any) -> CommitSessions:
    """The cached factories on ``engine``, AA's on ``anchor_engine``, the caches on Redis ``client``, connections open.

    ``anchor_engine`` reaches a copy of the data in a database no cache is registered for: a session bound to no
    cache on a database that has caches invalidates them at its commit (as any write does), which plain AA never
    pays.
    """
    from litestar.stores.redis import RedisStore

    namespace = f"{prefix}{uuid.uuid4().hex[:8]}"
    cache = AsyncCache(RedisStore(client, namespace=namespace), namespace=namespace)
    unmarked = AsyncCache(
        RedisStore(client, namespace=namespace), namespace=f"{namespace}n", options=CacheOptions(commit_policy=None)
    )
    factories = []
    for each in (None, cache, unmarked):
        factory = async_sessionmaker(anchor_engine if each is None else engine, expire_on_commit=False)
        if each is not None:
            bind_cache(factory, each)
            await each.bump(["warm"])
        factories.append(factory)
    return CommitSessions(*factories, caches=(cache, unmarked))


async def commit_cost(db: str, url: str, anchor_url: str) -> list[list[Any]]:
    """Section 4; AA's commits on ``anchor_url``, a copy of the data (see :func:`commit_sessions`)."""
    from redis.asyncio import Redis

    engine = await _engine(url, _rows(MANY_ROWS * 10, 10), fixed=True)
    anchor_engine = await _engine(anchor_url, _rows(MANY_ROWS * 10, 10), fixed=True)
    client = Redis.from_url(REDIS_URL)
    plain, bound, bound_unmarked, caches = await commit_sessions(engine, client, "lakcm", anchor_engine)

    cases = {
        "AA commit (no cache)": _update_commit(plain),
        "kit commit + mark + bump (Redis, default policy available)": _update_commit(bound),
        "kit commit + bump (Redis, commit_policy=None)": _update_commit(bound_unmarked),
        "kit commit + mark + bump, tenant_column(immutable=True)": _update_commit(bound, FixedTenantRow),
        "kit commit + bump (commit_policy=None), tenant_column(immutable=True)": _update_commit(
            bound_unmarked, FixedTenantRow
        ),
        "AA commit, the immutable-tenant table": _update_commit(plain, FixedTenantRow),
        MANY_ANCHOR: _update_many_commit(plain),
        f"kit commit + mark + bump, {MANY_ROWS} rows of one tenant": _update_many_commit(bound),
    }
    # The database's own commit latency drifts (fsync): many short rounds, the order rotated each round, and
    # each variant's ratio taken against the anchor of its own round before the median.
    timings: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for round_ in range(COMMIT_ROUNDS):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            start = time.perf_counter()
            for _ in range(COMMITS_PER_ROUND):
                await cases[name]()
            timings[name].append((time.perf_counter() - start) / COMMITS_PER_ROUND * 1e6)
    anchors = {name: timings[MANY_ANCHOR if f"{MANY_ROWS} rows" in name else "AA commit (no cache)"] for name in cases}
    for each in caches:
        await each.close()
    await client.aclose()
    await engine.dispose()
    await anchor_engine.dispose()
    if url.startswith("postgresql"):
        await _drop_postgres(url)
        await _drop_postgres(anchor_url)
    return [
        [
            db,
            name,
            _median_of(values),
            _median_of([value / base for value, base in zip(values, anchors[name], strict=True)]),
        ]
        for name, values in timings.items()
    ]


# --- 5. attaching a list hit ------------------------------------------------------------------


class MergingRepo(KitRepo):
    """The previous attach, for comparison: each cached instance through ``session.merge(load=False)``."""

    def _attach(self, rows: list[tuple[Any, ...]], *, refresh: bool) -> list[tuple[Any, ...]]:  # noqa: ARG002
        sync = self.session.sync_session
        return [
            tuple(sync.merge(value, load=False) if hasattr(value, "_sa_instance_state") else value for value in row)
            for row in rows
        ]


async def attach_cost(tmp: str) -> list[list[Any]]:
    """A 100-row tenant list per request (new session + repository + get_many + close), four ways."""
    from litestar.stores.memory import MemoryStore

    engine = await _engine(f"sqlite+aiosqlite:///{tmp}/attach.db", _rows(1000, 10))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    cache = AsyncCache(MemoryStore(), namespace=f"lakat{uuid.uuid4().hex[:8]}")
    bind_cache(sessions, cache)
    base = select(TenantRow).where(TenantRow.tenant == 3)

    def case(make: Any) -> Any:
        async def run() -> None:
            async with sessions() as session:
                assert len(await make(session).get_many()) == 100

        return run

    cases = {
        "uncached (AA repo, auto_expunge=False)": case(lambda s: PlainRepo(session=s, statement=base)),
        "hit, auto_expunge=True (detached)": case(
            lambda s: KitRepo(session=s, scope=3, statement=base, auto_expunge=True)
        ),
        "hit, auto_expunge=False (attached)": case(lambda s: KitRepo(session=s, scope=3, statement=base)),
        "hit, auto_expunge=False (merge(load=False), before)": case(
            lambda s: MergingRepo(session=s, scope=3, statement=base)
        ),
    }
    await cases["hit, auto_expunge=False (attached)"]()  # populate
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(BATCHES * 3):
        for name, call in cases.items():
            start = time.perf_counter()
            for _ in range(20):
                await call()
            timings[name].append((time.perf_counter() - start) / 20 * 1e6)
    await cache.close()
    await engine.dispose()
    base_us = _median_of(timings["uncached (AA repo, auto_expunge=False)"])
    return [[name, _median_of(values), _median_of(values) / base_us] for name, values in timings.items()]


async def _sections(tmp: str) -> tuple[list[list[Any]], ...]:
    """Run the sections BENCH_SECTIONS names (empty tables for the others)."""
    work: list[list[Any]] = []
    trips: list[list[Any]] = []
    sizes: list[list[Any]] = []
    request: list[list[Any]] = []
    commits: list[list[Any]] = []

    async def sqlite_url(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp}/{name}.db"

    async def postgres_url(name: str) -> str | None:
        return await _postgres(f"lak_bench_tenants_{name}")

    have_postgres = await postgres_url("probe") if SECTIONS & {1, 4} else None
    if have_postgres:
        await _drop_postgres(have_postgres)
    if 1 in SECTIONS:
        work, trips = await workload("aiosqlite", sqlite_url)
        if have_postgres:
            more, more_trips = await workload("postgresql", postgres_url)
            work, trips = work + more, trips + more_trips
        _print("1. tenant workload, requests/s (median of batches)", WORK_COLUMNS, work)
        _print("1b. the Redis variants' round trips, against the MemoryStore variant's time", TRIP_COLUMNS, trips)
    if 2 in SECTIONS:
        sizes = await hit_cost(tmp)
        _print("2. get(pk) hit, µs (median of batches), by cached rows", SIZE_COLUMNS, sizes)
    if 3 in SECTIONS:
        request = await request_cost(tmp)
        _print("3. per-request cost on MemoryStore, µs", ["what", "µs", "ratio"], request)
    if 4 in SECTIONS:
        commits = await commit_cost("aiosqlite", await sqlite_url("commit"), await sqlite_url("commit_aa"))
        if have_postgres:
            commits += await commit_cost(
                "postgresql",
                await postgres_url("commit"),  # type: ignore[arg-type]
                await postgres_url("commit_aa"),  # type: ignore[arg-type]
            )
        _print("4. update + commit, µs", COMMIT_COLUMNS, commits)
    return work, trips, sizes, request, commits


WORK_COLUMNS = ["db", "cache", "req/s", "vs uncached", "read hit %", "sim per row/tenant %", "sim per table %"]
TRIP_COLUMNS = [
    "db",
    "cache",
    "round trips/request",
    "round trip µs, back to back",
    "round trip µs, after 1 ms idle",
    "µs/request over MemoryStore",
    "that / (trips x idle round trip)",
    "vs uncached at MemoryStore + trips x back-to-back",
    "vs uncached at MemoryStore + trips x idle",
    f"round trip µs for {REDIS_TARGET}x",
]
TRIPS_NOTE = (
    " Round trips: the commands clients sent the Redis server during the variant's batches, per request (INFO"
    " commandstats, less the GET and SET per key the kit's scripts run; requests run one at a time, so each command"
    " is a round trip). Round trip: a one-key MGET on the cache's own connection, back to back and after 1 ms"
    " asleep (medians of 200 per batch, then of batches). 'that / (trips x idle round trip)': what the Redis"
    " variant costs over the MemoryStore variant per request, divided by what its round trips cost (1.0: the kit"
    " adds nothing but the round trips). Then the ratio to uncached if the Redis variant cost the MemoryStore"
    " variant plus its round trips and nothing else, and the round trip that would reach the target."
)
SIZE_COLUMNS = ["store", "rows", "µs/hit", "vs smallest"]
COMMIT_COLUMNS = ["db", "what", "µs", "vs AA"]


async def main() -> None:
    print(f"load average before: {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        work, trips, sizes, request, commits = await _sections(tmp)
        attach = await attach_cost(tmp) if 5 in SECTIONS else []
        if attach:
            _print("5. a 100-row list per request on MemoryStore, µs", ["what", "µs", "vs uncached"], attach)
    load = _load()
    print(f"load average after: {load}")
    # each section run is recorded; the others keep their last recorded results
    note = f"Load average after the run: {load}; {PINNED}, local servers on CPU 0."
    if work:
        title = "Tenant workload: 20 tenants, 95% reads / 5% writes"
        record("tenants_workload", title, WORK_COLUMNS, work, plot="vs uncached", note=note)
        title = "Tenant workload: the Redis variants' round trips against the MemoryStore variant"
        record("tenants_redis_trips", title, TRIP_COLUMNS, trips, note=note + TRIPS_NOTE)
    if sizes:
        title = "get(pk) hit cost by number of cached rows"
        record("tenants_hit_cost", title, SIZE_COLUMNS, sizes, plot="µs/hit", note=note)
    if request:
        record("tenants_request", "Per-request cost on MemoryStore", ["what", "µs", "ratio"], request, note=note)
    if commits:
        title = "Update + commit with and without the bump"
        record("tenants_commit", title, COMMIT_COLUMNS, commits, plot="µs", note=note)
    if attach:
        title = "A 100-row list per request: uncached, and a hit detached, attached, merged"
        record("tenants_attach", title, ["what", "µs", "vs uncached"], attach, plot="µs", note=note)


def _print(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    print(f"\n{title}")
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{cell:.2f}" if isinstance(cell, float) else str(cell) for cell in row))


if __name__ == "__main__":
    PINNED = pin_client()
    print(PINNED)
    asyncio.run(main())
