"""observe_outcomes(): the cache outcomes of one task, never another's running at the same time."""

import asyncio

from litestar.stores.memory import MemoryStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, observe_outcomes


async def test_each_task_sees_only_its_own_outcomes() -> None:
    cache = AsyncCache(MemoryStore(), namespace="observe")
    key = cache.key("row", "q")
    versions = await cache.versions(["t:x"])
    assert versions is not None
    await cache.set(key, "v", versions)
    started: list[bool] = []
    both_started = asyncio.Event()

    async def reader(hit: bool) -> dict[str, int]:
        with observe_outcomes() as outcomes:
            started.append(True)
            if len(started) == 2:
                both_started.set()
            await both_started.wait()  # the two tasks interleave from here
            for _ in range(3):
                found = await cache.get(key if hit else cache.key("row", "absent"), ["t:x"])
                assert (found == "v") if hit else (found is MISS)
                await asyncio.sleep(0)
            return dict(outcomes)

    hits, misses = await asyncio.gather(reader(hit=True), reader(hit=False))
    assert (hits["hit"], hits["miss"]) == (3, 0)
    assert (misses["hit"], misses["miss"]) == (0, 3)
    assert (cache.stats["hit"], cache.stats["miss"]) == (3, 3)  # the cache's own counters see both


async def test_outside_a_block_nothing_is_observed_and_blocks_nest() -> None:
    cache = AsyncCache(MemoryStore(), namespace="observe")
    with observe_outcomes() as outer:
        await cache.get(cache.key("row", "a"))
        with observe_outcomes() as inner:
            await cache.get(cache.key("row", "b"))
        await cache.get(cache.key("row", "c"))
    await cache.get(cache.key("row", "d"))
    assert (outer["miss"], inner["miss"]) == (2, 1)
