"""Drop-in for Advanced Alchemy users (issue 17): AA's usual forms work unchanged on the kit's classes.

Written once (async) and generated for sync by unasyncd. Each scenario fails if the drop-in
behaviour it names breaks: one type argument on a service, AA's ``cache_manager``, services over
repositories that are not (fully) the kit's.
"""

from __future__ import annotations

from typing import Any

import pytest
from advanced_alchemy.cache import CacheConfig, CacheManager
from advanced_alchemy.config import SQLAlchemyAsyncConfig
from advanced_alchemy.exceptions import ImproperConfigurationError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_alchemy_kit.repository import CachedAsyncRepository
from litestar_alchemy_kit.service import CachedAsyncRepositoryService
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Item


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


class ItemService(CachedAsyncRepositoryService[Item, ItemRepository]):
    repository_type = ItemRepository


class PlainItemRepository(SQLAlchemyAsyncRepository[Item]):
    """An AA repository that is not the kit's."""

    model_type = Item


class PlainRepositoryItemService(CachedAsyncRepositoryService[Item, Any]):
    repository_type = PlainItemRepository


class SkippingItemRepository(ItemRepository):
    """A kit repository subclass whose ``__init__`` does not call ``super().__init__()`` (it sets AA's state itself)."""

    def __init__(self, *, session: AsyncSession, **kwargs: Any) -> None:
        kwargs.pop("cache", None)
        kwargs.pop("scope", None)
        kwargs.pop("use_cache", None)
        SQLAlchemyAsyncRepository.__init__(self, session=session, **kwargs)


class SkippingItemService(CachedAsyncRepositoryService[Item, SkippingItemRepository]):
    repository_type = SkippingItemRepository


def _manager(prefix: str) -> CacheManager:
    return CacheManager(CacheConfig(backend="dogpile.cache.memory", expiration_time=300, key_prefix=prefix))


# --- (a) one type argument --------------------------------------------------------------------


async def service_takes_one_type_argument(env: Env) -> None:
    """``CachedAsyncRepositoryService[Model]`` builds, writes, and its reads are cached."""

    class OneArgumentItemService(CachedAsyncRepositoryService[Item]):
        """AA's usual form: one type argument (the repository type variable defaults to ``Any``)."""

        repository_type = ItemRepository

    cache = env.make_cache()
    async with env.sessionmaker() as session:
        service = OneArgumentItemService(session=session, cache=cache)
        assert isinstance(service.repository, ItemRepository)
        item = await service.create({"name": "one", "tenant": "a"}, auto_commit=True)
    hits = cache.stats["hit"]
    for read in (lambda service: service.get(item.id), lambda service: service.get_many()):
        for _ in range(2):  # a session per read: the first populates, the second hits
            async with env.sessionmaker() as session:
                found = await read(OneArgumentItemService(session=session, cache=cache))
                assert [row.name for row in (found if isinstance(found, list) else [found])] == ["one"]
    assert cache.stats["hit"] == hits + 2, f"the repeated get and get_many must be cache hits: {dict(cache.stats)}"


# --- (b) AA's cache manager -------------------------------------------------------------------


async def cache_and_cache_manager_together_are_refused(env: Env) -> None:
    """The kit's ``cache=`` and AA's ``cache_manager=`` at once: a clear error naming both."""
    async with env.sessionmaker() as session:
        with pytest.raises(ImproperConfigurationError, match=r"both cache= .* and cache_manager="):
            ItemRepository(session=session, cache=env.make_cache(), cache_manager=_manager("both:"))
        with pytest.raises(ImproperConfigurationError, match=r"both cache= .* and cache_manager="):
            ItemService(session=session, cache=env.make_cache(), cache_manager=_manager("both:"))


async def explicit_cache_manager_is_honoured(env: Env) -> None:
    """``cache_manager=`` given explicitly wins over a kit cache bound to the session: AA's cache, as in AA."""
    cache = env.make_cache()
    manager = _manager("explicit:")
    async with env.bound(cache)() as session:
        repo = ItemRepository(session=session, cache_manager=manager, auto_expunge=True)
        item = await repo.add(Item(name="aa", tenant="a"), auto_commit=True)
        hits = cache.stats["hit"]
        assert (await repo.get(item.id)).name == "aa"
        assert (await repo.get(item.id)).name == "aa"
        assert cache.stats["hit"] == hits, "the kit's cache must not serve a repository given AA's cache manager"
        cached = manager.get_entity_sync(Item.__tablename__, item.id, Item)
        assert cached is not None, "AA's cache manager must have cached the row"
        assert cached.name == "aa"


async def config_cache_manager_without_kit_cache_is_honoured(env: Env) -> None:
    """AA's config installs its manager in ``session.info``; with no kit cache the repository uses it, as AA's does."""
    config = SQLAlchemyAsyncConfig(
        engine_instance=env.engine_object, cache_config=CacheConfig(backend="dogpile.cache.memory", key_prefix="cfg:")
    )
    manager = config.cache_manager
    assert manager is not None
    async with config.get_session() as session:
        repo = ItemRepository(session=session, auto_expunge=True)
        assert repo.cache is None
        item = await repo.add(Item(name="cfg", tenant="a"), auto_commit=True)
        assert (await repo.get(item.id)).name == "cfg"
        cached = manager.get_entity_sync(Item.__tablename__, item.id, Item)
        assert cached is not None, "AA's config cache manager must have cached the row"


async def kit_cache_replaces_config_cache_manager(env: Env) -> None:
    """A kit cache and AA's config manager on one session: the kit's cache serves, AA's manager stays empty.

    ``auto_expunge=True``: AA's manager only caches detached results, so it would be at work here if kept.
    Checked on a class's first instance (built by AA's ``__init__``) and on the next ones (from its template).
    """

    class FreshRepository(ItemRepository):  # a class of its own: its first instance cannot come from a template
        pass

    config = SQLAlchemyAsyncConfig(
        engine_instance=env.engine_object, cache_config=CacheConfig(backend="dogpile.cache.memory", key_prefix="both:")
    )
    manager = config.cache_manager
    assert manager is not None
    cache = env.make_cache()
    async with config.get_session() as session:
        repo = FreshRepository(session=session, cache=cache, auto_expunge=True)
        item = await repo.add(Item(name="kit", tenant="a"), auto_commit=True)
        assert (await repo.get(item.id, uniquify=False)).name == "kit"  # through AA's get()
        assert manager.get_entity_sync(Item.__tablename__, item.id, Item) is None, "a first instance kept AA's manager"
    async with config.get_session() as session:
        repo = FreshRepository(session=session, cache=cache, auto_expunge=True)
        assert (await repo.get(item.id)).name == "kit"
        hits = cache.stats["hit"]
        assert (await repo.get(item.id)).name == "kit"
        assert cache.stats["hit"] == hits + 1
        # get() with arguments and get_many() run through AA's methods: AA's manager must not serve them
        assert (await repo.get(item.id, uniquify=False)).name == "kit"
        assert manager.get_entity_sync(Item.__tablename__, item.id, Item) is None, "AA's manager must not also cache"
    for _ in range(2):  # a session each: the first populates, the second hits
        async with config.get_session() as session:
            repo = FreshRepository(session=session, cache=cache, auto_expunge=True)
            hits = cache.stats["hit"]
            assert [row.name for row in await repo.get_many()] == ["kit"]
    assert cache.stats["hit"] == hits + 1, "the repeated get_many must be a hit of the kit's cache"


# --- (c) services over repositories that are not (fully) the kit's ------------------------------


async def _writes_and_reads(service: Any) -> None:
    """Every kind of service write, then reads: AA's results."""
    item = await service.create({"name": "w", "tenant": "a"}, auto_commit=True)
    (second,) = await service.create_many([{"name": "x", "tenant": "a"}], auto_commit=True)
    item = await service.update({"name": "w2"}, item_id=item.id, auto_commit=True)
    assert item.name == "w2"
    upserted = await service.upsert({"id": second.id, "name": "x2", "tenant": "a"}, auto_commit=True)
    assert upserted.name == "x2"
    found, created = await service.get_or_upsert(match_fields=["name"], name="y", tenant="a", auto_commit=True)
    assert created
    _, updated = await service.get_and_update(match_fields=["name"], name="y", quantity=3, auto_commit=True)
    assert updated
    assert (await service.get(found.id)).quantity == 3
    assert sorted(row.name for row in await service.get_many()) == ["w2", "x2", "y"]
    assert await service.count() == 3
    await service.delete(found.id, auto_commit=True)
    await service.delete_many([second.id], auto_commit=True)
    await service.delete_where(Item.name == "w2", auto_commit=True)
    assert await service.count() == 0


async def service_over_repository_skipping_init(env: Env) -> None:
    """A kit repository whose ``__init__`` skips the kit's: the service works, uncached (AA's behaviour)."""
    cache = env.make_cache()
    async with env.bound(cache)() as session:
        service = SkippingItemService(session=session)
        assert service.repository.cache is None
        await _writes_and_reads(service)
        assert cache.stats["hit"] == 0


async def service_over_plain_aa_repository(env: Env) -> None:
    """An AA repository that is not the kit's: the service is AA's, uncached; kit options are refused."""
    cache = env.make_cache()
    async with env.bound(cache)() as session:
        await _writes_and_reads(PlainRepositoryItemService(session=session))
        assert cache.stats["hit"] == 0
        for option in ({"cache": cache}, {"scope": "tenant-a"}, {"use_cache": False}):
            with pytest.raises(ImproperConfigurationError, match=r"PlainItemRepository is not a cached repository"):
                PlainRepositoryItemService(session=session, **option)
