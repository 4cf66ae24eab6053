"""The generated sync cache over its sync backends: in-memory, Redis (``redis``), Valkey (``valkey``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from litestar_alchemy_kit.cache import MISS, CacheOptions, SyncCache, SyncCacheBackend, SyncMemoryBackend

Factory = Callable[[], SyncCacheBackend]


def _ns() -> str:
    return f"laks{uuid.uuid4().hex[:10]}"


def test_hit_bump_and_second_instance(sync_backend_factory: Factory) -> None:
    ns = _ns()
    first, second = SyncCache(sync_backend_factory(), ns), SyncCache(sync_backend_factory(), ns)
    key = first.key("row", "q", ("tenant", 1))
    assert first.get(key, ["users"]) is MISS
    first.set(key, {"id": 1}, first.versions(["users"]))
    assert second.get(key, ["users"]) == {"id": 1}
    assert second.bump(["users"])
    assert first.get(key, ["users"]) is MISS
    first.clear()


def test_stale_set_never_hits_and_schema_counts(sync_backend_factory: Factory) -> None:
    cache = SyncCache(sync_backend_factory(), _ns())
    key = cache.key("row", "q")
    before = cache.versions(["t"])
    cache.bump(["t"])
    cache.set(key, "stale", before)
    assert cache.get(key, ["t"]) is MISS
    cache.set(key, "fresh", cache.versions(["t"]), schema="v1")
    assert cache.get(key, ["t"], schema="v1") == "fresh"
    assert cache.get(key, ["t"], schema="v2") is MISS
    cache.clear()


def test_clear_spares_a_sibling_namespace(sync_backend_factory: Factory) -> None:
    base = _ns()
    mine, sibling = SyncCache(sync_backend_factory(), base), SyncCache(sync_backend_factory(), base + "x")
    for cache in (mine, sibling):
        cache.set(cache.key("row", "q"), cache.namespace, cache.versions(["t"]))
    mine.clear()
    assert mine.get(mine.key("row", "q"), ["t"]) is MISS
    assert sibling.get(sibling.key("row", "q"), ["t"]) == base + "x"
    sibling.clear()


def test_corrupted_entry_is_a_miss_and_replaced(sync_backend_factory: Factory) -> None:
    backend = sync_backend_factory()
    cache = SyncCache(backend, _ns())
    key = cache.key("row", "q")
    cache.set(key, "good", cache.versions(["t"]))
    backend.set(key, b"\x93\x00garbage", None)
    assert cache.get(key, ["t"]) is MISS
    assert cache.get_or_load(key, ["t"], lambda: "fresh") == "fresh"
    assert cache.get(key, ["t"]) == "fresh"
    cache.clear()


def test_concurrent_threads_run_the_loader_once(sync_backend_factory: Factory) -> None:
    cache = SyncCache(sync_backend_factory(), _ns(), CacheOptions(timeout=5))
    key = cache.key("row", "hot")
    calls = 0
    lock = threading.Lock()
    barrier = threading.Barrier(20)
    results: list[int] = []

    def loader() -> int:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.1)
        return 42

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_load(key, ["t"], loader))

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 20
    assert calls == 1
    cache.clear()


def test_negative_caching_is_opt_in(sync_backend_factory: Factory) -> None:
    cache = SyncCache(sync_backend_factory(), _ns(), CacheOptions(negative_ttl=30))
    key = cache.key("row", "absent")
    calls = 0

    def loader() -> None:
        nonlocal calls
        calls += 1

    cache.get_or_load(key, ["t"], loader)
    cache.get_or_load(key, ["t"], loader)
    assert calls == 1
    cache.clear()


def test_bad_inputs_raise_clear_errors() -> None:
    cache = SyncCache(SyncMemoryBackend(), "ok")
    with pytest.raises(ValueError, match="invalid cache kind"):
        cache.key("bad kind", "q")
    with pytest.raises(TypeError, match="cannot build a cache key"):
        cache.key("row", "q", (object(),))
    with pytest.raises(TypeError, match="collection of str"):
        cache.versions("users")
    with pytest.raises(ValueError, match="invalid cache namespace"):
        SyncCache(SyncMemoryBackend(), "a:b")
    with pytest.raises(TypeError, match="cannot build a sync cache"):
        SyncCache(object(), "ok")
