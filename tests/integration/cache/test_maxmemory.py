"""Redis and Valkey at ``maxmemory``: evictions only cause misses, and a full store fails open.

Each test starts its own server (never the shared one) and sets ``maxmemory`` and the policy on it.
A writer (this process) keeps committing updates to one row while filling the server past its
memory limit; a reader in another OS process, with its own client, reads the row through the
cache after each commit has returned. Any value older than the commit is a stale read.

- ``allkeys-lru`` / ``allkeys-lfu``: the server evicts entries and tag versions alike; an evicted
  version comes back as a new random token, so the entries labelled with the old one only miss.
  The reader must keep getting hits.
- ``volatile-lru``: only entries (they have a ttl) are evicted, never tag versions; once none is
  left the server refuses writes as under ``noeviction``.
- ``noeviction``: the server refuses writes (``OOM``) but serves reads and deletes. A commit's bump
  that cannot be written is delivered by deleting the tag versions (a deleted version matches no
  entry), and refused entry writes do not open the circuit breaker (which would stop bumps).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from litestar_alchemy_kit.cache import MISS, AsyncCache
from tests.integration.cache._servers import OwnServer
from tests.integration.repository._async import ItemRepository
from tests.integration.repository._reader_process import ReaderProcess
from tests.integration.repository.models import Item, RepoBase

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]

ITERATIONS = 30
FILLER = 8192  # bytes per filler value
FILLERS = 250  # filler writes per iteration: about 2 MB, past the limit every iteration


@pytest.fixture(
    params=[
        pytest.param(("redis", "allkeys-lru"), id="redis-allkeys-lru", marks=pytest.mark.redis_store),
        pytest.param(("redis", "allkeys-lfu"), id="redis-allkeys-lfu", marks=pytest.mark.redis_store),
        pytest.param(("redis", "volatile-lru"), id="redis-volatile-lru", marks=pytest.mark.redis_store),
        pytest.param(("redis", "noeviction"), id="redis-noeviction", marks=pytest.mark.redis_store),
        pytest.param(("valkey", "allkeys-lru"), id="valkey-allkeys-lru", marks=pytest.mark.valkey_store),
        pytest.param(("valkey", "allkeys-lfu"), id="valkey-allkeys-lfu", marks=pytest.mark.valkey_store),
        pytest.param(("valkey", "volatile-lru"), id="valkey-volatile-lru", marks=pytest.mark.valkey_store),
        pytest.param(("valkey", "noeviction"), id="valkey-noeviction", marks=pytest.mark.valkey_store),
    ]
)
def full_server(request: pytest.FixtureRequest) -> Iterator[tuple[OwnServer, str]]:
    """A private server whose memory limit is about 1.5 MB above what it uses empty."""
    kind, policy = request.param
    server = OwnServer(kind).start()
    admin = redis.Redis.from_url(server.url)
    try:
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory", str(used + 1_500_000))
        admin.config_set("maxmemory-policy", policy)
        yield server, policy
    finally:
        admin.close()
        server.stop()


async def _fill(client: Redis, key: str) -> bool:
    """Write a filler value; ``False`` if the server refused it (full, under ``noeviction``)."""
    try:
        await client.set(key, os.urandom(FILLER))
    except redis.exceptions.OutOfMemoryError:
        return False
    return True


def _stats(url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    try:
        return {**client.info("stats"), **client.info("memory")}
    finally:
        client.close()


async def test_no_stale_read_after_commit_across_processes_at_maxmemory(
    full_server: tuple[OwnServer, str], tmp_path: Path
) -> None:
    server, policy = full_server
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(RepoBase.metadata.create_all)
    namespace = f"lakmax{uuid.uuid4().hex[:10]}"
    client = Redis.from_url(server.url)
    filler = Redis.from_url(server.url)
    cache = AsyncCache(RedisStore(client, namespace=namespace), namespace=namespace)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        item = await ItemRepository(session=session, cache=cache).add(Item(name="row", quantity=0), auto_commit=True)
    reader = ReaderProcess(db_url, server.url, namespace, item.id)
    read = reader.read
    stale: list[tuple[int, int]] = []
    refused = 0
    hits = 0
    try:
        for i in range(1, ITERATIONS + 1):
            # Memory goes up and down, as other writers' keys come and go: the reader's entries are
            # stored below the limit, and the commit that follows finds the server full.
            await filler.delete(*[f"filler:{i - 1}:{j}" for j in range(FILLERS)])
            for _ in range(2):
                quantity, hits = read()
                if quantity != i - 1:
                    stale.append((i - 1, quantity))
            for j in range(FILLERS):  # memory pressure from other writers of the same server
                refused += not await _fill(filler, f"filler:{i}:{j}")
            async with sessions() as session:
                await ItemRepository(session=session, cache=cache).update(
                    Item(id=item.id, quantity=i), auto_commit=True
                )
            quantity, hits = read()
            if quantity != i:
                stale.append((i, quantity))
    finally:
        assert reader.close(timeout=30) == 0
        await cache.close()
        await client.aclose()
        await filler.aclose()
        await engine.dispose()
    stats = _stats(server.url)
    assert stale == [], f"{policy}: stale reads (expected, read) after commit: {stale}"
    if policy == "noeviction":
        assert refused > 0, "the server never refused a write: no memory pressure"
        assert stats["evicted_keys"] == 0
    elif policy.startswith("volatile-"):
        # Only keys with a ttl go (entries, never tag versions); once none is left, writes are refused.
        assert refused > 0 or stats["evicted_keys"] > 0, "no memory pressure"
    else:
        assert stats["evicted_keys"] > 0, "nothing was evicted: no memory pressure"
        assert hits >= ITERATIONS, f"{policy}: the reader got {hits} hits in {2 * ITERATIONS} reads before commits"


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis_store),
        pytest.param("valkey", marks=pytest.mark.valkey_store),
    ]
)
def own_server(request: pytest.FixtureRequest) -> Iterator[OwnServer]:
    server = OwnServer(request.param).start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_full_server_fails_open_and_still_takes_invalidations(own_server: OwnServer) -> None:
    """``noeviction`` at its limit: refused writes are misses that never open the breaker; bumps and clears land."""
    stores = [RedisStore(Redis.from_url(own_server.url), namespace="full") for _ in range(2)]
    cache, other = (AsyncCache(store, namespace="f") for store in stores)
    key = cache.key("row", "q")
    assert await cache.set(key, "before", await cache.versions(["users"]))
    admin = redis.Redis.from_url(own_server.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)  # every write refused from now on
    try:
        for i in range(2 * cache.options.breaker_threshold):
            assert not await cache.set(cache.key("row", str(i)), i, await cache.versions(["other"]))
        assert not cache.breaker_open  # the store answers: it is full, not failing
        assert await other.get(key, ["users"]) == "before"
        assert await cache.bump(["users"])  # delivered by deleting the version
        assert await other.get(key, ["users"]) is MISS
        assert await other.versions(["users"]) is None  # a new version cannot be written: no caching
        assert await cache.clear()
        assert cache.pending_tags == frozenset()
        assert cache.stats["error"] > 0
    finally:
        admin.config_set("maxmemory", 0)
        admin.close()
    assert await cache.set(key, "after", await cache.versions(["users"]))  # caching resumes with memory
    assert await other.get(key, ["users"]) == "after"
    for each in (cache, other):
        await each.close()
    for store in stores:
        await store._redis.aclose()
