"""Size caps on a real engine and store (async source; ``_limits_sync.py`` is generated).

An oversized value and an oversized result are served from the database, never stored, never
truncated, and counted as ``too_large`` bypasses.
"""

from __future__ import annotations

from litestar_alchemy_kit.cache import AsyncCache, CacheLimits
from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Item


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


class TinyEntryRepository(CachedAsyncRepository[Item]):
    """The class-level override: every entry is over 64 bytes (the envelope alone is larger)."""

    model_type = Item
    cache_limits = CacheLimits(max_entry_bytes=64, max_rows=None)


def _counts(cache: AsyncCache) -> tuple[int, int]:
    return cache.stats["hit"], cache.bypass_reasons.get("too_large", 0)


async def oversized_values_and_results_are_served_uncached(env: Env) -> None:
    cache: AsyncCache = env.make_cache()
    sessions = env.bound(cache)
    names = [f"item {i} " + "x" * 40 for i in range(3)]
    async with sessions() as session:
        added = await ItemRepository(session=session).add_many(
            [Item(name=name, quantity=i) for i, name in enumerate(names)], auto_commit=True
        )
    ids = sorted(item.id for item in added)

    # An oversized value (class attribute): read from the database on every call, never stored.
    for _ in range(2):
        async with sessions() as session:
            item = await TinyEntryRepository(session=session).get(ids[0])
        assert item.name in names
    assert _counts(cache) == (0, 2), _counts(cache)

    # An oversized result (constructor override): 3 rows over a cap of 2, each time.
    for _ in range(2):
        async with sessions() as session:
            rows = await ItemRepository(session=session, cache_limits=CacheLimits(max_rows=2)).get_many()
        assert sorted(row.name for row in rows) == sorted(names)  # complete, not truncated
    assert _counts(cache) == (0, 4), _counts(cache)

    # Nothing was stored: the same reads with the default caps miss first, then hit. (One read per
    # session: a session that has read already holds a snapshot, and at SERIALIZABLE/REPEATABLE READ
    # it does not populate.)
    for expected_hits in (0, 1):
        async with sessions() as session:
            assert (await ItemRepository(session=session).get(ids[0])).name in names
        async with sessions() as session:
            assert len(await ItemRepository(session=session).get_many()) == 3
        assert _counts(cache) == (expected_hits * 2, 4), _counts(cache)

    # A result within the caps of the limited repository is cached as usual.
    for _ in range(2):
        async with sessions() as session:
            limited = ItemRepository(session=session, cache_limits=CacheLimits(max_rows=2))
            two = await limited.get_many(Item.id.in_(ids[:2]))
            assert sorted(row.id for row in two) == ids[:2]
    assert _counts(cache) == (3, 4), _counts(cache)

    # Writes still invalidate what was cached next to the bypasses.
    async with sessions() as session:
        await ItemRepository(session=session).update(Item(id=ids[0], quantity=99), auto_commit=True)
    async with sessions() as session:
        assert (await ItemRepository(session=session).get(ids[0])).quantity == 99
