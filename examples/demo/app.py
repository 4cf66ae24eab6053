"""Demo application: multi-tenant notes, cached and scoped, through the kit's one plugin.

- ``POST /login`` issues a JWT (users ``alice`` and ``dave``/``acme``, ``bob``/``globex``, ``carol`` with no tenant;
  each one's password is their name);
- ``/notes`` are tenant-scoped: the provider binds each caller's service to their tenant (the
  model declares its tenant column once), so nobody ever reads or changes another tenant's notes;
- ``GET /tenants`` is a public listing (optional authentication: signed-in callers see which one is theirs);
- every response carries ``x-cache: hit | miss | none`` (the cached repositories' reads); every error is
  ``application/problem+json``;
- the notes' ``GET`` routes cache whole responses per tenant (``x-response-cache: hit | miss | bypass``,
  an ETag answered 304 without running the handler), invalidated by every commit to the notes;
- ``GET /cache`` shows the cache's counters; ``litestar --app examples.demo.app:app cache --help``
  lists the cache commands.

Run it with ``python -m nox -s demo`` (SQLite in memory and a memory store); ``DEMO_PROFILE=servers``
switches to PostgreSQL and Redis. See ``examples/demo/README.md``.
"""

import os
import secrets
from typing import Any
from uuid import UUID

from advanced_alchemy.filters import FilterTypes
from advanced_alchemy.service import OffsetPagination
from litestar import Litestar, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import ASGIMiddleware
from litestar.params import FromPath, JSONBody, SkipValidation
from litestar.security.jwt import JWTAuth, Token
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from msgspec import Struct

from examples.demo.models import Base, Note
from examples.demo.services import NoteService, TenantService
from examples.demo.settings import Settings
from litestar_alchemy_kit import (
    AlchemyKitConfig,
    AlchemyKitPlugin,
    AsyncCache,
    AsyncServiceContext,
    AuthConfig,
    AuthContext,
    CachePluginConfig,
    ErrorsConfig,
    ResponseCachePluginConfig,
    ResponseCacheRule,
    ServiceDependency,
    observe_outcomes,
)

SETTINGS = Settings.from_env()


class User(Struct, frozen=True):
    username: str
    tenant: str | None


USERS = {
    name: User(name, tenant)
    for name, tenant in (("alice", "acme"), ("dave", "acme"), ("bob", "globex"), ("carol", None))
}
TENANTS = {"acme": "Acme Corporation", "globex": "Globex", "initech": "Initech"}


async def retrieve_user(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return USERS.get(token.sub)


jwt_auth = JWTAuth[User](
    retrieve_user_handler=retrieve_user,
    token_secret=os.environ.get("DEMO_JWT_SECRET") or secrets.token_hex(32),
    exclude=["/login", "/schema"],
)


class Credentials(Struct):
    username: str
    password: str


class LoginOut(Struct):
    access_token: str
    token_type: str = "Bearer"


class NoteIn(Struct):
    title: str
    body: str = ""


class NotePatch(Struct, omit_defaults=True):
    title: str | None = None
    body: str | None = None


class NoteOut(Struct):
    id: UUID
    title: str
    body: str


class TenantOut(Struct):
    slug: str
    name: str
    mine: bool


def _out(note: Note) -> NoteOut:
    return NoteOut(id=note.id, title=note.title, body=note.body)


@post("/login", exclude_from_auth=True)
async def login(data: JSONBody[Credentials]) -> LoginOut:
    user = USERS.get(data.username)
    # Demo passwords are the usernames; compare in constant time all the same.
    if user is None or not secrets.compare_digest(data.password, data.username):
        msg = "invalid username or password"
        raise NotAuthorizedException(msg)
    return LoginOut(access_token=jwt_auth.create_token(identifier=user.username))


@get("/tenants", opt={"auth": "optional"})
async def list_tenants(
    tenants: NamedDependency[TenantService], auth: NamedDependency[AuthContext[User, Token]]
) -> list[TenantOut]:
    found = await tenants.get_many(order_by=("slug", False))
    return [TenantOut(slug=tenant.slug, name=tenant.name, mine=tenant.slug == auth.tenant_id) for tenant in found]


# What a tenant's notes look like is the same for every member of the tenant: one cached response per
# tenant (the default would be one per caller). The tenant is the auth context's, the very one the
# ``notes`` provider binds the service to.
PER_TENANT = {"response_cache": ResponseCacheRule(scope="tenant", ttl=300)}


@get("/notes", opt=PER_TENANT)
async def list_notes(
    notes: NamedDependency[NoteService], filters: NamedDependency[SkipValidation[list[FilterTypes]]]
) -> OffsetPagination[NoteOut]:
    found, total = await notes.get_many_and_count(*filters)
    return notes.to_schema([_out(note) for note in found], total, filters=filters)


@post("/notes")
async def create_note(notes: NamedDependency[NoteService], data: JSONBody[NoteIn]) -> NoteOut:
    return _out(await notes.create({"title": data.title, "body": data.body}))


@get("/notes/{note_id:uuid}", opt=PER_TENANT)
async def get_note(notes: NamedDependency[NoteService], note_id: FromPath[UUID]) -> NoteOut:
    return _out(await notes.get(note_id))


@patch("/notes/{note_id:uuid}")
async def update_note(
    notes: NamedDependency[NoteService], note_id: FromPath[UUID], data: JSONBody[NotePatch]
) -> NoteOut:
    changes = {key: value for key, value in (("title", data.title), ("body", data.body)) if value is not None}
    return _out(await notes.update(changes, item_id=note_id))


@delete("/notes/{note_id:uuid}")
async def delete_note(notes: NamedDependency[NoteService], note_id: FromPath[UUID]) -> None:
    await notes.delete(note_id)


@get("/cache", exclude_from_auth=True)
async def cache_stats(cache: NamedDependency[AsyncCache]) -> dict[str, int]:
    return dict(cache.stats)


class CacheStatusHeader(ASGIMiddleware):
    """``x-cache: hit`` when every cached read of the request was a hit, ``miss`` when one was not, else ``none``."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        with observe_outcomes() as outcomes:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = "miss" if outcomes["miss"] else "hit" if outcomes["hit"] else "none"
                    MutableScopeHeaders.from_message(message)["x-cache"] = status
                await send(message)

            await next_app(scope, receive, send_with_status)


async def reset_data(app: Litestar) -> None:
    """Start from known data: the tables (re)created and the tenants seeded, the cache emptied."""
    engine = KIT.alchemy_configs[0].get_engine()
    async with engine.begin() as connection:
        if not SETTINGS.keep_data:
            await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    # The same services outside a request: the app's sessions and cache, an explicit (shared) scope.
    async with AsyncServiceContext.from_app(app, scope=None) as context:
        tenants = context.service(TenantService)
        for slug, name in TENANTS.items():
            if not await tenants.exists(slug=slug):
                await tenants.create({"slug": slug, "name": name})
    if not SETTINGS.keep_data:
        # Entries of another run's data must not answer for this run's (same keys, new rows).
        await app.state.cache.clear()


async def drop_data(_: Litestar) -> None:
    if not SETTINGS.keep_data and SETTINGS.profile == "servers":
        engine = KIT.alchemy_configs[0].get_engine()
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
        await engine.dispose()  # no pooled connection outlives the event loop that opened it


KIT = AlchemyKitConfig(
    alchemy=SETTINGS.alchemy(),
    cache=CachePluginConfig(store="cache", namespace="demo"),
    auth=AuthConfig[User, Token](tenant_of=lambda user, _: user.tenant),
    errors=ErrorsConfig(),
    # x-cache already tells the repositories' outcomes (CacheStatusHeader): responses get a header of their own.
    response_cache=ResponseCachePluginConfig(hit_header="x-response-cache"),
    services={
        "notes": ServiceDependency(
            NoteService,
            scope="tenant",
            filters={
                "id_filter": True,
                "pagination_type": "limit_offset",
                "search": "title",
                "sort_field": "created_at",
                "created_at": True,
                "updated_at": True,
            },
        ),
        "tenants": ServiceDependency(TenantService, scope="shared"),
    },
)

app = Litestar(
    route_handlers=[login, list_tenants, list_notes, create_note, get_note, update_note, delete_note, cache_stats],
    on_app_init=[jwt_auth.on_app_init],
    plugins=[AlchemyKitPlugin(KIT)],
    middleware=[CacheStatusHeader()],
    stores={"cache": SETTINGS.cache_store()},
    on_startup=[reset_data],
    on_shutdown=[drop_data],
    signature_namespace={"User": User, "Token": Token},
)
