"""Service providers over HTTP: scope policies, 401/403, filters and OpenAPI, keys, and the sync flavour."""

import inspect
import uuid
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from advanced_alchemy.filters import FilterTypes
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import JSONBody, SkipValidation
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, ErrorsConfig, ServiceDependency
from litestar_alchemy_kit.auth import AuthContext, TenantScope
from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.providers import ProviderKeys, create_service_provider
from litestar_alchemy_kit.providers.scope import binding_for, scope_of
from tests._schemathesis import assert_conformance
from tests.integration.providers.models import (
    Note,
    NoteService,
    ProvidersBase,
    SyncNoteService,
    TopicService,
    UndeclaredNoteService,
)
from tests.unit.auth._app import AUTH_CONFIG, User, issue, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.memory_store]

FILTERS: Any = {"pagination_type": "limit_offset", "search": "title", "sort_field": "title", "sort_order": "asc"}


@get("/notes")
async def list_notes(
    notes: NamedDependency[NoteService], filters: NamedDependency[SkipValidation[list[FilterTypes]]]
) -> dict[str, Any]:
    found, total = await notes.get_many_and_count(*filters)
    return {"titles": [note.title for note in found], "total": total}


@post("/notes")
async def add_note(notes: NamedDependency[NoteService], data: JSONBody[dict[str, str]]) -> str:
    return str((await notes.create(data)).id)


@get("/mine")
async def my_notes(my_notes: NamedDependency[NoteService]) -> list[str]:
    return sorted(note.title for note in await my_notes.get_many())


@get("/topics", opt={"auth": "optional"})
async def list_topics(topics: NamedDependency[TopicService]) -> list[str]:
    return [topic.name for topic in await topics.get_many()]


@pytest.fixture
def app(tmp_path: Path) -> Litestar:
    alchemy = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'providers.db'}",
        metadata=ProvidersBase.metadata,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    kit = AlchemyKitConfig(
        alchemy=alchemy,
        auth=AUTH_CONFIG,
        errors=ErrorsConfig(),
        services={
            "notes": ServiceDependency(NoteService, scope="tenant", filters=FILTERS),
            "my_notes": ServiceDependency(NoteService, scope="user"),
            "topics": ServiceDependency(TopicService),
        },
    )
    backend = make_backend("jwt")
    app = Litestar(
        [list_notes, add_note, my_notes, list_topics],
        on_app_init=[backend.on_app_init],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": MemoryStore()},
    )
    app.state.backend = backend
    return app


def bearer(app: Litestar, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(app.state.backend, user)}"}


async def test_a_tenant_provider_answers_401_and_403_and_never_all_rows(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        for user, title in (("alice", "acme-1"), ("bob", "globex-1"), ("alice", "acme-2")):
            assert (await client.post("/notes", json={"title": title}, headers=bearer(app, user))).status_code == 201
        anonymous = await client.get("/notes")
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
        no_tenant = await client.get("/notes", headers=bearer(app, "dave"))
        assert (no_tenant.status_code, no_tenant.json()["code"]) == (403, "forbidden")
        assert (await client.get("/notes", headers=bearer(app, "alice"))).json() == {
            "titles": ["acme-1", "acme-2"],
            "total": 2,
        }
        assert (await client.get("/notes", headers=bearer(app, "bob"))).json() == {"titles": ["globex-1"], "total": 1}


async def test_filters_feed_the_cached_list_and_show_in_openapi(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        alice = bearer(app, "alice")
        for title in ("c", "a", "b"):
            await client.post("/notes", json={"title": title}, headers=alice)
        cache = app.state.cache
        page = await client.get("/notes", params={"pageSize": 2, "currentPage": 2}, headers=alice)
        assert page.json() == {"titles": ["c"], "total": 3}
        hits = cache.stats["hit"]
        assert (
            await client.get("/notes", params={"pageSize": 2, "currentPage": 2}, headers=alice)
        ).json() == page.json()
        assert cache.stats["hit"] > hits
        assert (await client.get("/notes", params={"searchString": "b"}, headers=alice)).json()["titles"] == ["b"]

        operation = app.openapi_schema.to_schema()["paths"]["/notes"]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"currentPage", "pageSize", "searchString", "orderBy", "sortOrder"} <= names
        # What the provider refuses with is documented on every operation using it.
        assert {"401", "403"} <= set(operation["responses"])


@pytest.mark.parametrize("field", ["", "nope", "__class__", "tenant_idx"])
async def test_a_sort_field_the_model_lacks_is_a_400_naming_the_parameter(app: Litestar, field: str) -> None:
    async with AsyncTestClient(app=app) as client:
        alice = bearer(app, "alice")
        await client.post("/notes", json={"title": "kept"}, headers=alice)
        response = await client.get("/notes", params={"orderBy": field}, headers=alice)
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["code"] == "validation"
        assert [error["field"] for error in problem["errors"]] == ["orderBy"]
        # A column the model has still sorts, and nothing was lost.
        sorted_ = await client.get("/notes", params={"orderBy": "title"}, headers=alice)
        assert sorted_.json() == {"titles": ["kept"], "total": 1}


@pytest.mark.parametrize("caller", [None, "alice", "dave"])
def test_the_multi_tenant_app_documents_every_answer(app: Litestar, caller: str | None) -> None:
    """Schemathesis: no server error, and every status and code sent is in the OpenAPI document."""
    assert assert_conformance(app, headers=bearer(app, caller) if caller else None, max_examples=8) > 0


async def test_a_user_provider_keeps_each_users_entries_apart(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        await client.post("/notes", json={"title": "shared in acme"}, headers=bearer(app, "alice"))
        cache = app.state.cache
        assert (await client.get("/mine", headers=bearer(app, "alice"))).json() == ["shared in acme"]
        hits = cache.stats["hit"]
        # carol is in acme too: same rows (the tenant filter), but her first read is her own entry, a miss.
        assert (await client.get("/mine", headers=bearer(app, "carol"))).json() == ["shared in acme"]
        assert cache.stats["hit"] == hits
        await client.get("/mine", headers=bearer(app, "carol"))
        assert cache.stats["hit"] == hits + 1


async def test_a_shared_provider_serves_anonymous_callers(app: Litestar) -> None:
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/topics")
        assert (response.status_code, response.json()) == (200, [])


def test_policies_that_cannot_be_right_are_refused_when_the_provider_is_created() -> None:
    with pytest.raises(ValueError, match="would serve every tenant's rows"):
        create_service_provider(NoteService)
    # Without the tenant_column() declaration there is no tenant to scope by: refused, never unfiltered.
    with pytest.raises(TypeError, match=r"declare it once with litestar_alchemy_kit\.orm\.tenant_column"):
        create_service_provider(UndeclaredNoteService, scope="tenant")
    with pytest.raises(TypeError, match="needs a tenant column"):
        create_service_provider(TopicService, scope="user")
    with pytest.raises(ValueError, match="unknown scope policy"):
        create_service_provider(NoteService, scope="tenants")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not a CachedAsyncRepositoryService"):
        create_service_provider(SQLAlchemyAsyncRepositoryService)  # type: ignore[type-var]


def test_scopes_from_the_caller() -> None:
    alice = AuthContext(user=User("alice", "acme"), tenant_id="acme", subject="alice")
    assert scope_of("tenant", alice) == TenantScope("acme")
    assert scope_of("user", alice) == TenantScope("acme", "alice")
    assert scope_of(lambda auth: TenantScope(auth.tenant_id, "custom"), alice) == TenantScope("acme", "custom")
    with pytest.raises(PermissionDeniedException):
        scope_of("user", AuthContext(user=User("x", "acme"), tenant_id="acme"))
    binding = binding_for(NoteService, TenantScope("acme", "alice"))
    assert (binding.tenant, binding.scope) == ("acme", ("subject", "alice"))
    # A model without a tenant column: the scope partitions the cache only.
    assert binding_for(TopicService, TenantScope("acme")).scope == TenantScope("acme")
    with pytest.raises(NotAuthorizedException):
        binding_for(NoteService, AuthContext.anonymous().scope)
    with pytest.raises(PermissionDeniedException):
        binding_for(NoteService, TenantScope(None))
    with pytest.raises(ValueError, match="needs a tenant scope"):
        binding_for(NoteService, None)


def test_the_signature_is_generated_from_the_keys() -> None:
    keys = ProviderKeys(session="session", cache="store_cache", auth="caller")
    parameters = inspect.signature(create_service_provider(NoteService, scope="tenant", keys=keys)).parameters
    assert list(parameters) == ["session", "store_cache", "caller"]
    assert list(inspect.signature(create_service_provider(TopicService)).parameters) == ["db_session", "cache"]
    no_cache = ProviderKeys(cache=None)
    assert list(inspect.signature(create_service_provider(TopicService, keys=no_cache)).parameters) == ["db_session"]
    with pytest.raises(ValueError, match="must be distinct"):
        ProviderKeys(session="x", cache="x")


@pytest.mark.sqlite
def test_the_sync_provider_binds_the_tenant_and_uses_the_sessions_cache(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    ProvidersBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    cache = SyncCache(SyncMemoryBackend(), namespace=f"sync{uuid.uuid4().hex[:6]}")
    bind_cache(sessions, cache)
    provide = create_service_provider(SyncNoteService, scope="tenant")
    assert list(inspect.signature(provide).parameters) == ["db_session", "auth"]
    session: Session
    with sessions() as session:
        acme = next(provide(db_session=session, auth=AuthContext(user="a", tenant_id="acme")))
        globex = next(provide(db_session=session, auth=AuthContext(user="b", tenant_id="globex")))
        acme.create({"title": "a"}, auto_commit=True)
        globex.create({"title": "b", "tenant_id": "acme"}, auto_commit=True)
        assert [note.title for note in acme.get_many()] == ["a"]
        assert [note.title for note in acme.get_many()] == ["a"]
        # The sync flavour asks for no cache dependency: the SyncCache bound to the session maker serves it.
        assert acme.repository.cache is cache
        assert cache.stats["miss"] >= 1
        assert [(note.title, note.tenant_id) for note in globex.get_many(Note.title == "b")] == [("b", "globex")]
        with pytest.raises(NotAuthorizedException):
            next(provide(db_session=session, auth=AuthContext.anonymous()))
    engine.dispose()
