"""A service built per request gets its repository from the template of the first alike call, never another's state."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.mixins import UUIDPrimaryKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped

from litestar_alchemy_kit.cache import AsyncCache, AsyncMemoryBackend
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.invalidation import bound_async_caches
from litestar_alchemy_kit.repository import CachedAsyncRepository, bind_cache
from litestar_alchemy_kit.service import CachedAsyncRepositoryService
from litestar_alchemy_kit.writes.template import default_select, service_templates


class _Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Gadget(UUIDPrimaryKey, _Base):
    __tablename__ = "lak_service_template_gadget"

    name: Mapped[str]


class Note(UUIDPrimaryKey, _Base):
    __tablename__ = "lak_service_template_note"

    tenant: Mapped[int] = tenant_column()


class NoteRepository(CachedAsyncRepository[Note]):
    model_type = Note


class NoteService(CachedAsyncRepositoryService[Note, NoteRepository]):
    repository_type = NoteRepository


class GadgetRepository(CachedAsyncRepository[Gadget]):
    model_type = Gadget


class GadgetService(CachedAsyncRepositoryService[Gadget, GadgetRepository]):
    repository_type = GadgetRepository


class StampedRepository(GadgetRepository):
    """Its own ``__init__``: never built from a template by the service."""

    def __init__(self, **kwargs: Any) -> None:
        self.stamp = uuid.uuid4()
        super().__init__(**kwargs)


class StampedService(CachedAsyncRepositoryService[Gadget, StampedRepository]):
    repository_type = StampedRepository


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], AsyncCache]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/service.db")
    async with engine.begin() as connection:
        await connection.run_sync(_Base.metadata.create_all)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    cache = AsyncCache(AsyncMemoryBackend(), namespace=f"svc{uuid.uuid4().hex[:8]}")
    bind_cache(factory, cache)
    yield factory, cache
    await engine.dispose()


async def test_a_service_built_alike_restores_its_repository_with_its_own_session_and_scope(
    sessions: tuple[async_sessionmaker[AsyncSession], AsyncCache],
) -> None:
    factory, cache = sessions
    async with factory() as one, factory() as two:
        first = GadgetService(session=one, scope="a")
        found = len(service_templates)
        second = GadgetService(session=two, scope="b")
        assert len(service_templates) == found, "the second build is restored, not remembered again"
        repo_one, repo_two = first.repository, second.repository
        assert type(repo_two) is GadgetRepository
        assert (repo_one.session, repo_two.session) == (one, two)
        assert (repo_one.cache_scope, repo_two.cache_scope) == (("a",), ("b",))
        assert repo_one._scope_token != repo_two._scope_token
        assert repo_two.cache is cache
        assert repo_two._read_state is not repo_one._read_state
        assert repo_two._default_execution_options is not repo_one._default_execution_options
        assert repo_two.error_messages is not repo_one.error_messages
        assert repo_one.tenant is repo_two.tenant is None
        own = {"session", "_read_state", "_cache_scope", "_scope_token", "_default_execution_options", "error_messages"}
        own.add("_tenant")  # the first one's is set on the instance, the restored one's is the class default
        assert {k: v for k, v in vars(repo_one).items() if k not in own} == {
            k: v for k, v in vars(repo_two).items() if k not in own
        }
        # it reads, caches and writes as the first one does
        await repo_two.add(Gadget(id=uuid.UUID(int=1), name="g"), auto_commit=True)
    for _ in range(2):
        async with factory() as session:
            assert (await GadgetService(session=session, scope="b").get(uuid.UUID(int=1))).name == "g"
    assert cache.stats["hit"] == 1


async def test_what_the_repository_derives_from_is_the_key(
    sessions: tuple[async_sessionmaker[AsyncSession], AsyncCache],
) -> None:
    factory, cache = sessions
    async with factory() as session:
        assert GadgetService(session=session)._repository_instance._cache_enabled is True
        GadgetService(session=session)  # restored
        assert GadgetService(session=session, use_cache=False).repository._cache_enabled is False
        assert GadgetService(session=session, auto_expunge=True).repository.auto_expunge is True
        assert GadgetService(session=session).repository.auto_expunge is False
        other = AsyncCache(AsyncMemoryBackend(), namespace="svcother")
        # a cache not bound to the session yet is bound, as the repository binds it; then two caches are
        # bound, and only the one given is used
        assert GadgetService(session=session, cache=other).repository.cache is other
        assert bound_async_caches(session) == (cache, other)
        assert GadgetService(session=session, cache=other).repository.cache is other
        assert GadgetService(session=session, cache=cache).repository.cache is cache
        # as providers call it
        assert GadgetService(session, cache=cache, scope=1, tenant=None).repository.cache_scope == (1,)
    async with factory() as session:
        # class defaults changed at runtime, the service's and the repository's, are seen by the next build
        GadgetService.execution_options = {"populate_existing": True}
        try:
            assert GadgetService(session=session).repository._default_execution_options == {"populate_existing": True}
        finally:
            del GadgetService.execution_options
        GadgetRepository.execution_options = {"populate_existing": True}
        try:
            assert GadgetService(session=session).repository._default_execution_options == {"populate_existing": True}
        finally:
            del GadgetRepository.execution_options
        GadgetService.uniquify = True
        try:
            assert GadgetService(session=session).repository._uniquify is True
        finally:
            del GadgetService.uniquify
        GadgetRepository.use_cache = False
        try:
            assert GadgetService(session=session).repository._cache_enabled is False
        finally:
            del GadgetRepository.use_cache
        assert GadgetService(session=session).repository._default_execution_options == {}


async def test_a_repository_with_its_own_init_is_built_by_it(
    sessions: tuple[async_sessionmaker[AsyncSession], AsyncCache],
) -> None:
    factory, _ = sessions
    async with factory() as session:
        stamps = {StampedService(session=session).repository.stamp for _ in range(3)}
        assert len(stamps) == 3


async def test_a_tenant_binding_is_never_restored_from_an_unbound_template(
    sessions: tuple[async_sessionmaker[AsyncSession], AsyncCache],
) -> None:
    factory, _ = sessions
    async with factory() as session:
        for _ in range(2):  # remembered, then restored
            assert NoteService(session, scope=1, tenant=None).repository.tenant is None
        bound = NoteService(session, scope=1, tenant=7).repository
        assert bound.tenant is not None
        assert bound.tenant.value == 7
        assert bound.cache_scope != (1,)


async def test_a_tenant_bound_service_restores_its_repository_with_its_own_tenant(
    sessions: tuple[async_sessionmaker[AsyncSession], AsyncCache],
) -> None:
    """What providers build per request (``tenant=``): the repository from the template, bound to the call's tenant."""
    factory, cache = sessions
    async with factory() as session:
        for tenant, row in ((1, 81), (2, 82)):
            await NoteService(session, tenant=tenant).create(Note(id=uuid.UUID(int=row), tenant=9), auto_commit=True)
    templates: list[object] = []
    for _ in range(2):  # remembered, then restored
        for tenant, own, other in ((1, 81, 82), (2, 82, 81)):
            for read in (
                "list",
                "own",
                "other",
            ):  # a session per read: on SQLite only a read that opens its transaction populates
                async with factory() as session:
                    service = NoteService(session, tenant=tenant)
                    repository = service.repository
                    assert repository.tenant is not None
                    assert repository.tenant.value == tenant
                    assert repository.cache_scope == (("tenant", tenant),)
                    templates.append(repository._template)
                    if read == "list":
                        assert [note.id for note in await service.get_many()] == [uuid.UUID(int=own)]
                    elif read == "own":
                        assert (await service.get(uuid.UUID(int=own))).tenant == tenant, "created rows are stamped"
                    else:
                        with pytest.raises(NotFoundError):
                            await service.get(uuid.UUID(int=other))
    assert templates[0] is not None
    assert all(template is templates[0] for template in templates)
    assert cache.stats["hit"] == 6, "the second round: every read a hit of its own tenant's entry"
    async with factory() as session:  # an unbound call after bound ones is never given a bound template
        for _ in range(2):
            unbound = NoteService(session, scope=1).repository
            assert unbound.tenant is None
            assert unbound.statement is default_select(Note)
