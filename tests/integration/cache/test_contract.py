"""The cache contract, on every store of the matrix (memory, file, Redis, Valkey, database)."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from decimal import Decimal

import msgspec
import pytest
from litestar.stores.base import Store

from litestar_alchemy_kit.cache import MISS, AsyncCache, CacheLimits, CacheOptions, MsgspecCodec
from tests._backends import CLUSTERS
from tests.conftest import PATIENT, StoreBackend

_TIMEOUT = PATIENT.timeout
_PATIENT = PATIENT  # the contract is about values and waiters, not the fail-open timeout


def _ns() -> str:
    return f"lakc{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def cache(store: Store):
    cache = AsyncCache(store, namespace="c", options=_PATIENT)
    yield cache
    await cache.close()


async def test_miss_then_hit_round_trips_values(cache: AsyncCache) -> None:
    key = cache.key("row", "select 1", ("tenant", 7))
    assert await cache.get(key, ["users"]) is MISS
    value = {
        "id": 7,
        "name": "ünï",
        "tags": ["a", "b"],
        "blob": b"\x00\xff",
        "when": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
        "none": None,
    }
    versions = await cache.versions(["users"])
    assert versions is not None
    assert await cache.set(key, value, versions)
    assert await cache.get(key, ["users"]) == value
    # None is a value like any other when set explicitly
    none_key = cache.key("row", "none")
    assert await cache.set(none_key, None, versions)
    assert await cache.get(none_key, ["users"]) is None
    assert cache.stats["hit"] == 2


async def test_bump_is_seen_at_once_by_an_instance_on_its_own_client(store_backend: StoreBackend) -> None:
    ns = _ns()
    first = AsyncCache(store_backend.make(ns), namespace="shared", options=_PATIENT)
    second = AsyncCache(store_backend.make(ns), namespace="shared", options=_PATIENT)
    key = first.key("list", "select * from users")
    assert key == second.key("list", "select * from users")
    await first.set(key, [1, 2, 3], await first.versions(["users", "teams"]))
    assert await second.get(key, ["users", "teams"]) == [1, 2, 3]

    assert await second.bump(["teams"])
    assert await first.get(key, ["users", "teams"]) is MISS
    assert await second.get(key, ["users", "teams"]) is MISS

    # a value computed after the bump, labelled by the other instance, hits everywhere
    await second.set(key, [4], await second.versions(["users", "teams"]))
    assert await first.get(key, ["users", "teams"]) == [4]
    await first.clear()


async def test_a_set_labelled_before_a_bump_never_hits(cache: AsyncCache) -> None:
    key = cache.key("row", "q")
    before = await cache.versions(["orders"])
    await cache.bump(["orders"])  # a commit lands while the query runs
    assert await cache.set(key, "stale", before)  # written, but labelled with the old version
    assert await cache.get(key, ["orders"]) is MISS
    after = await cache.versions(["orders"])
    assert after is not None
    assert before is not None
    assert after.tags["orders"] != before.tags["orders"]


async def test_entries_need_exactly_their_tags_and_schema(cache: AsyncCache) -> None:
    key = cache.key("row", "q")
    await cache.set(key, 1, await cache.versions(["a", "b"]), schema="v1")
    assert await cache.get(key, ["b", "a"], schema="v1") == 1  # order does not matter
    assert await cache.get(key, ["a", "b", "a"], schema="v1") == 1  # duplicates do not matter
    assert await cache.get(key, ["a"], schema="v1") is MISS
    assert await cache.get(key, ["a", "b", "c"], schema="v1") is MISS
    assert await cache.get(key, ["a", "b"], schema="v2") is MISS
    assert await cache.get(key, ["a", "b"]) is MISS
    await cache.bump(["c"])  # an unrelated tag
    assert await cache.get(key, ["a", "b"], schema="v1") == 1


async def test_codec_change_is_a_miss(store: Store) -> None:
    writer = AsyncCache(store, namespace="codec", options=_PATIENT)
    reader = AsyncCache(
        store, namespace="codec", options=CacheOptions(timeout=_TIMEOUT, codec=MsgspecCodec(name="msgpack-v2"))
    )
    key = writer.key("row", "q")
    await writer.set(key, {"a": 1}, await writer.versions(["t"]))
    assert await reader.get(key, ["t"]) is MISS
    assert await writer.get(key, ["t"]) == {"a": 1}


async def test_typed_codec_decodes_into_its_type(store: Store) -> None:
    class Row(msgspec.Struct):
        id: uuid.UUID
        price: Decimal

    cache = AsyncCache(
        store, namespace="typed", options=CacheOptions(timeout=_TIMEOUT, codec=MsgspecCodec(list[Row], name="rows"))
    )
    rows = [Row(uuid.uuid4(), Decimal("1.10")), Row(uuid.uuid4(), Decimal("2.25"))]
    key = cache.key("rows", "q")
    await cache.set(key, rows, await cache.versions(["t"]))
    assert await cache.get(key, ["t"]) == rows


async def test_clear_spares_a_sibling_namespace_sharing_its_prefix(store_backend: StoreBackend) -> None:
    ns = _ns()
    mine = AsyncCache(store_backend.make(ns), namespace="app", options=_PATIENT)
    sibling = AsyncCache(store_backend.make(ns), namespace="appx", options=_PATIENT)
    # and a cache in a sibling *store* namespace (Litestar's Redis delete_all pattern `ns*` would match it)
    sibling_store = AsyncCache(store_backend.make(ns + "x"), namespace="app", options=_PATIENT)
    for cache in (mine, sibling, sibling_store):
        await cache.set(cache.key("row", "q"), cache.namespace, await cache.versions(["t"]))
    assert await mine.clear()
    assert await mine.get(mine.key("row", "q"), ["t"]) is MISS
    assert await sibling.get(sibling.key("row", "q"), ["t"]) == "appx"
    assert await sibling_store.get(sibling_store.key("row", "q"), ["t"]) == "app"
    # the cleared namespace works again afterwards
    await mine.set(mine.key("row", "q"), "again", await mine.versions(["t"]))
    assert await mine.get(mine.key("row", "q"), ["t"]) == "again"
    for cache in (sibling, sibling_store):
        await cache.clear()


async def test_clear_deletes_keys_where_the_store_can_enumerate_them(store_backend: StoreBackend) -> None:
    """Redis/Valkey and the bounded store lose the keys; other stores keep the bytes until expiry, but they never hit again."""
    ns = _ns()
    store = store_backend.make(ns)
    cache = AsyncCache(store, namespace="gone", options=_PATIENT)
    key = cache.key("row", "q")
    await cache.set(key, 1, await cache.versions(["t"]))
    stored = cache.stored_key(key, ["t"])  # the key itself, except on a cluster (its slot group's hash tag added)
    assert await store.exists(stored)
    await cache.clear()
    assert await cache.get(key, ["t"]) is MISS
    enumerable = store_backend.name in {"redis_store", "valkey_store", "bounded_memory_store", *CLUSTERS}
    assert await store.exists(stored) is not enumerable
    assert await store.exists(cache.tag_key("t")) is not enumerable


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\x01garbage",
        b"\xc1",
        msgspec.msgpack.encode({"not": "an entry"}),
        msgspec.msgpack.encode([1, "msgpack", "", "x", {}, None]),
    ],
    ids=["empty", "binary", "invalid-msgpack", "foreign-map", "truncated-entry"],
)
async def test_corrupted_bytes_under_a_live_key_are_a_miss_and_get_replaced(store: Store, garbage: bytes) -> None:
    cache = AsyncCache(store, namespace="corrupt", options=_PATIENT)
    key = cache.key("row", "q")
    await cache.set(key, "good", await cache.versions(["t"]))
    assert await cache.get(key, ["t"]) == "good"
    await store.set(cache.stored_key(key, ["t"]), garbage)  # straight into the store, bypassing the cache
    assert await cache.get(key, ["t"]) is MISS
    # (a store may keep empty bytes as "absent": that is a plain miss)
    assert cache.stats["error"] >= 1 or (garbage == b"" and cache.stats["miss"] >= 1)
    loads = 0

    async def loader() -> str:
        nonlocal loads
        loads += 1
        return "fresh"

    assert await cache.get_or_load(key, ["t"], loader) == "fresh"
    assert await cache.get_or_load(key, ["t"], loader) == "fresh"
    assert loads == 1
    assert await cache.get(key, ["t"]) == "fresh"


async def test_payload_that_no_longer_decodes_is_a_miss(store: Store) -> None:
    writer = AsyncCache(
        store, namespace="shape", options=CacheOptions(timeout=_TIMEOUT, codec=MsgspecCodec(name="rows"))
    )
    reader = AsyncCache(
        store, namespace="shape", options=CacheOptions(timeout=_TIMEOUT, codec=MsgspecCodec(list[int], name="rows"))
    )
    key = writer.key("rows", "q")
    await writer.set(key, ["not", "ints"], await writer.versions(["t"]))
    assert await reader.get(key, ["t"]) is MISS
    assert reader.stats["error"] == 1


async def test_unencodable_value_is_not_cached_and_does_not_raise(cache: AsyncCache) -> None:
    key = cache.key("row", "q")
    assert not await cache.set(key, object(), await cache.versions(["t"]))
    assert await cache.get(key, ["t"]) is MISS


async def test_an_entry_over_the_size_cap_is_never_stored_and_counts_as_too_large(store: Store) -> None:
    cache = AsyncCache(
        store, namespace="cap", options=CacheOptions(timeout=_TIMEOUT, limits=CacheLimits(max_entry_bytes=4096))
    )
    key = cache.key("row", "big")
    versions = await cache.versions(["t"])
    assert await cache.set(key, "x" * 1000, versions)  # within the cap
    assert await cache.get(key, ["t"]) == "x" * 1000
    # over the cap: not written; the entry stored before stays (computed under the same versions, it is valid)
    assert not await cache.set(key, "y" * 5000, versions)
    assert await cache.get(key, ["t"]) == "x" * 1000
    other = cache.key("row", "other")
    assert not await cache.set(other, b"z" * 20_000, versions)
    assert not await store.exists(cache.stored_key(other, ["t"]))
    assert await cache.get(other, ["t"]) is MISS
    # a per-call cap wins over the cache's
    assert await cache.set(other, b"z" * 20_000, versions, limits=CacheLimits(max_entry_bytes=None))
    assert await cache.get(other, ["t"]) == b"z" * 20_000
    assert cache.bypass_reasons == {"too_large": 2}
    assert cache.stats["bypass"] == 2
    await cache.close()


async def test_entry_past_its_ttl_is_a_miss(cache: AsyncCache) -> None:
    # No read between the set and the sleep: on a loaded machine a slow store can spend a short TTL
    # before the read, so the control is an entry with a long TTL, read after the same sleep.
    short, long = cache.key("row", "short"), cache.key("row", "long")
    versions = await cache.versions(["t"])
    assert await cache.set(short, 1, versions, ttl=0.2)
    assert await cache.set(long, 2, versions, ttl=60)
    await asyncio.sleep(0.3)
    assert await cache.get(short, ["t"]) is MISS
    assert await cache.get(long, ["t"]) == 2


async def test_lost_tag_versions_come_back_as_new_tokens(store: Store) -> None:
    cache = AsyncCache(store, namespace="evict", options=_PATIENT)
    key = cache.key("row", "q")
    versions = await cache.versions(["t"])
    assert versions is not None
    await cache.set(key, 1, versions)
    await store.delete(cache.tag_key("t"))  # as an LRU eviction would
    again = await cache.versions(["t"])
    assert again is not None
    assert again.tags["t"] != versions.tags["t"]
    assert await cache.get(key, ["t"]) is MISS


async def test_100_concurrent_misses_run_the_loader_once(store: Store) -> None:
    # 100 simultaneous reads queue up on the database store's connection pool: give them time
    cache = AsyncCache(store, namespace="hot", options=CacheOptions(timeout=10))
    key = cache.key("row", "hot")
    calls = 0

    async def loader() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"n": calls}

    results = await asyncio.gather(*(cache.get_or_load(key, ["t"], loader) for _ in range(100)))
    assert calls == 1
    assert results == [{"n": 1}] * 100
    assert await cache.get_or_load(key, ["t"], loader) == {"n": 1}
    assert calls == 1


async def test_loader_errors_reach_every_waiter_and_are_not_cached(cache: AsyncCache) -> None:
    key = cache.key("row", "boom")
    calls = 0

    async def loader() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        raise LookupError("db said no")

    results = await asyncio.gather(*(cache.get_or_load(key, ["t"], loader) for _ in range(5)), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(result, LookupError) for result in results)
    assert await cache.get(key, ["t"]) is MISS


async def test_negative_caching_is_opt_in(store: Store) -> None:
    calls = 0

    async def loader() -> None:
        nonlocal calls
        calls += 1

    plain = AsyncCache(store, namespace="plain", options=_PATIENT)
    key = plain.key("row", "absent")
    assert await plain.get_or_load(key, ["t"], loader) is None
    assert await plain.get_or_load(key, ["t"], loader) is None
    assert calls == 2

    # A long negative TTL where a hit is expected (a loaded machine must not spend it between two calls)...
    negative = AsyncCache(store, namespace="negative", options=CacheOptions(timeout=_TIMEOUT, negative_ttl=60))
    key = negative.key("row", "absent")
    calls = 0
    assert await negative.get_or_load(key, ["t"], loader) is None
    assert await negative.get_or_load(key, ["t"], loader) is None
    assert calls == 1
    await negative.bump(["t"])  # an insert makes the row exist: the negative entry goes too
    assert await negative.get_or_load(key, ["t"], loader) is None
    assert calls == 2
    # ...and a short one where only its expiry is checked.
    brief = AsyncCache(store, namespace="brief", options=CacheOptions(timeout=_TIMEOUT, negative_ttl=0.3))
    calls = 0
    assert await brief.get_or_load(key, ["t"], loader) is None
    await asyncio.sleep(0.4)
    assert await brief.get_or_load(key, ["t"], loader) is None
    assert calls == 2


async def test_stale_while_revalidate_serves_expired_but_never_invalidated_values(store: Store) -> None:
    cache = AsyncCache(store, namespace="swr", options=CacheOptions(timeout=_TIMEOUT, stale_ttl=30))
    key = cache.key("row", "q")
    release, loading = asyncio.Event(), asyncio.Event()
    version = 0

    async def loader() -> int:
        nonlocal version
        version += 1
        if version > 1:
            loading.set()
            await release.wait()
        return version

    assert await cache.get_or_load(key, ["t"], loader, ttl=0.2) == 1
    await asyncio.sleep(0.3)
    refresher = asyncio.create_task(cache.get_or_load(key, ["t"], loader, ttl=0.2))
    await loading.wait()  # the refresher is now loading
    assert await cache.get_or_load(key, ["t"], loader, ttl=0.2) == 1  # served stale meanwhile
    assert cache.stats["stale_served"] == 1
    release.set()
    assert await refresher == 2
    assert await cache.get_or_load(key, ["t"], loader, ttl=0.2) == 2

    # after a bump nothing stale is served: callers wait for the refresh
    release.clear()
    loading.clear()
    await cache.bump(["t"])
    refresher = asyncio.create_task(cache.get_or_load(key, ["t"], loader, ttl=0.2))
    await loading.wait()
    waiter = asyncio.create_task(cache.get_or_load(key, ["t"], loader, ttl=0.2))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    release.set()
    assert await refresher == 3
    assert await waiter == 3
    assert cache.stats["stale_served"] == 1


async def test_lease_makes_another_instance_wait_for_the_holder(store_backend: StoreBackend) -> None:
    ns = _ns()
    # Generous lease and wait: the test releases the holder itself, so only a broken lease makes the
    # waiter load (a short wait failed under load on the SQLite-backed store, not the lease).
    options = CacheOptions(lease_ttl=60, lease_wait=30, lease_poll=0.01, timeout=30)
    holder = AsyncCache(store_backend.make(ns), namespace="lease", options=options)
    waiter = AsyncCache(store_backend.make(ns), namespace="lease", options=options)
    key = holder.key("row", "q")
    release = asyncio.Event()
    holding = asyncio.Event()
    loads: list[str] = []

    async def slow() -> str:
        loads.append("holder")
        holding.set()
        await release.wait()
        return "from-holder"

    async def fast() -> str:
        loads.append("waiter")
        return "from-waiter"

    first = asyncio.create_task(holder.get_or_load(key, ["t"], slow))
    await asyncio.wait_for(holding.wait(), 30)  # the holder has the lease: it loads only once it holds it
    second = asyncio.create_task(waiter.get_or_load(key, ["t"], fast))
    await asyncio.sleep(0.1)
    assert not second.done()
    release.set()
    assert await first == "from-holder"
    assert await second == "from-holder"
    assert loads == ["holder"]
    await holder.clear()


async def test_lease_wait_is_bounded(store_backend: StoreBackend) -> None:
    ns = _ns()
    options = CacheOptions(lease_ttl=30, lease_wait=0.2, lease_poll=0.02)
    holder = AsyncCache(store_backend.make(ns), namespace="lease", options=options)
    waiter = AsyncCache(store_backend.make(ns), namespace="lease", options=options)
    key = holder.key("row", "q")
    never = asyncio.Event()

    async def stuck() -> str:
        await never.wait()
        return "never"

    async def fast() -> str:
        return "loaded-anyway"

    first = asyncio.create_task(holder.get_or_load(key, ["t"], stuck))
    await asyncio.sleep(0.1)
    assert await asyncio.wait_for(waiter.get_or_load(key, ["t"], fast), timeout=5) == "loaded-anyway"
    first.cancel()
    await holder.clear()


async def test_concurrent_first_readers_on_independent_clients_agree(store_backend: StoreBackend) -> None:
    ns = _ns()
    caches = [AsyncCache(store_backend.make(ns), namespace="init", options=_PATIENT) for _ in range(8)]
    found = await asyncio.gather(*(cache.versions(["fresh"]) for cache in caches))
    tokens = [versions.tags["fresh"] for versions in found if versions is not None]
    assert len(tokens) == len(caches)
    if store_backend.name in {"redis_store", "valkey_store"}:
        assert len(set(tokens)) == 1  # SET NX: one initial token, whoever came first
        assert len({versions.namespace for versions in found if versions is not None}) == 1
    # On stores with no set-if-absent a loser's token is simply never current: its entries miss, never hit wrongly.
    current = await caches[0].versions(["fresh"])
    assert current is not None
    for i, (cache, versions) in enumerate(zip(caches, found, strict=True)):
        key = cache.key("row", str(i))
        assert await cache.set(key, i, versions)
        hit = await caches[0].get(key, ["fresh"])
        assert hit == (i if versions == current else MISS)  # namespace version included
    if store_backend.name in {"redis_store", "valkey_store"}:
        # tag versions never expire (an entry cannot outlive them by ttl); entries do
        store = store_backend.make(ns)
        client = getattr(store, "_redis", None) or store._valkey  # type: ignore[attr-defined]
        assert await client.pttl(f"{ns}:{caches[0].tag_key('fresh')}") == -1
        assert await client.pttl(f"{ns}:init:n") == -1
        assert 0 < await client.pttl(f"{ns}:{caches[0].key('row', '0')}") <= 300_000
    await caches[0].clear()
