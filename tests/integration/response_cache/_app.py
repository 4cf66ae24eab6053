"""The app of the response cache tests: items of two tenants, cached routes of every kind, a counter per handler.

Built with either this kit's response cache (``kit``) or Litestar's own (``litestar``), so the same
scenarios show Litestar's leaks (strict xfails) and that the kit's cache has none.
"""

import asyncio
import dataclasses
import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from litestar import Litestar, Request, Response, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.params import CookieParameter, FromPath, HeaderParameter
from litestar.stores.base import Store
from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.repository import CachedAsyncRepository
from litestar_alchemy_kit.response_cache import (
    Caller,
    ResponseCachePlugin,
    ResponseCachePluginConfig,
    ResponseCacheRule,
)


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "lak_rc_shelf"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class Item(Base):
    __tablename__ = "lak_rc_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(default=0)
    tenant: Mapped[str] = mapped_column(String(20), default="acme")
    owner: Mapped[str] = mapped_column(String(20), default="alice")
    shelf_id: Mapped[int | None] = mapped_column(ForeignKey("lak_rc_shelf.id"), nullable=True)
    shelf: Mapped["Shelf | None"] = relationship(lazy="select")


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


Impl = Literal["kit", "litestar"]


@dataclasses.dataclass
class Hooks:
    """What tests reach into: handler call counts and gates that hold a handler mid-way."""

    calls: Counter[str] = dataclasses.field(default_factory=Counter)
    # Thread events: the test client runs the app on an event loop of its own, in another thread.
    entered: threading.Event = dataclasses.field(default_factory=threading.Event)
    release: threading.Event = dataclasses.field(default_factory=threading.Event)


def _caller(request: Request[Any, Any, Any]) -> tuple[str | None, str | None]:
    user: Any = request.scope.get("user")
    return (None, None) if user is None else (user.tenant, user.id)


async def get_item(
    item_id: FromPath[int], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    hooks.calls["item"] += 1
    item = await ItemRepository(session=session).get(item_id)
    return {"id": item.id, "name": item.name, "quantity": item.quantity}


async def plain_item(
    item_id: FromPath[int], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    """A plain ``session.execute``, no cached repository."""
    hooks.calls["plain"] += 1
    item = (await session.execute(select(Item).where(Item.id == item_id))).scalar_one()
    return {"id": item.id, "quantity": item.quantity}


async def shelf_of(
    item_id: FromPath[int], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    """A relationship loaded lazily (``awaitable_attrs``): the shelf table is recorded through the lazy load."""
    hooks.calls["shelf"] += 1
    item = (await session.execute(select(Item).where(Item.id == item_id))).scalar_one()
    shelf = await item.awaitable_attrs.shelf
    return {"id": item.id, "shelf": None if shelf is None else shelf.name}


async def slow_item(
    item_id: FromPath[int], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    """Reads, then waits for ``hooks.release``: tests commit in between (a snapshot older than a commit)."""
    hooks.calls["slow"] += 1
    item = (await session.execute(select(Item).where(Item.id == item_id))).scalar_one()
    quantity = item.quantity
    hooks.entered.set()
    await asyncio.to_thread(hooks.release.wait, 30)
    return {"id": item.id, "quantity": quantity}


async def slow_repository_item(
    item_id: FromPath[int], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    """Reads through the cached repository (its versions observed), then waits for ``hooks.release``."""
    hooks.calls["slow-repo"] += 1
    item = await ItemRepository(session=session).get(item_id)
    quantity = item.quantity
    hooks.entered.set()
    await asyncio.to_thread(hooks.release.wait, 30)
    return {"id": item.id, "quantity": quantity}


async def mine(
    request: Request[Any, Any, Any], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    """The caller's own items: per user by default on an authenticated route."""
    hooks.calls["mine"] += 1
    tenant, owner = _caller(request)
    rows = await session.execute(select(Item.name).where(Item.owner == owner, Item.tenant == tenant).order_by(Item.id))
    return {"owner": owner, "items": list(rows.scalars())}


async def tenant_items(
    request: Request[Any, Any, Any], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    hooks.calls["tenant"] += 1
    tenant, _ = _caller(request)
    rows = await session.execute(select(Item.name).where(Item.tenant == tenant).order_by(Item.id))
    return {"tenant": tenant, "items": list(rows.scalars())}


async def greet(request: Request[Any, Any, Any], hooks: NamedDependency[Hooks]) -> Response[dict[str, Any]]:
    """Sets a per-client session cookie, as a login or a CSRF token would."""
    hooks.calls["greet"] += 1
    token = f"secret-{hooks.calls['greet']}"
    return Response({"hello": "world"}, cookies=[Cookie(key="sid", value=token)])


async def echo(path: FromPath[str], request: Request[Any, Any, Any], hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    hooks.calls["echo"] += 1
    return {"path": path, "query": request.scope["query_string"].decode()}


async def broken(hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    hooks.calls["broken"] += 1
    msg = "handler failed"
    raise RuntimeError(msg)


async def private(hooks: NamedDependency[Hooks]) -> Response[str]:
    hooks.calls["private"] += 1
    return Response("mine", headers={"Cache-Control": "private"})


async def manual(hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    hooks.calls["manual"] += 1
    return {"banner": hooks.calls["manual"]}


async def negotiated(request: Request[Any, Any, Any], hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    hooks.calls["negotiated"] += 1
    return {
        "language": request.headers.get("accept-language"),
        "version": request.headers.get("x-api-version"),
    }


async def versioned(
    api_version: Annotated[str, HeaderParameter(name="x-api-version")], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    """A header parameter of the handler's signature (no ``vary`` in its rule)."""
    hooks.calls["versioned"] += 1
    return {"version": api_version}


def provide_version(api_version: Annotated[str, HeaderParameter(name="X-Api-Version")]) -> str:
    """An app-level dependency declaring a header parameter (its name in any case: headers are case-insensitive)."""
    return api_version


async def versioned_by_dependency(version: NamedDependency[str], hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    """A header parameter of a dependency only."""
    hooks.calls["versioned-dep"] += 1
    return {"version": version}


async def themed(theme: Annotated[str, CookieParameter(name="theme")], hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    """A cookie parameter of the handler's signature."""
    hooks.calls["themed"] += 1
    return {"theme": theme}


async def links(request: Request[Any, Any, Any], hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    """An absolute link to itself, as pagination and HATEOAS responses carry (``url_for`` uses the Host)."""
    hooks.calls["links"] += 1
    return {"self": request.url_for("links")}


async def touch(
    item_id: FromPath[int], session: NamedDependency[AsyncSession], hooks: NamedDependency[Hooks]
) -> dict[str, Any]:
    """Writes (never committed: the session closes) and reads nothing: must never be stored."""
    hooks.calls["touch"] += 1
    await session.execute(update(Item).where(Item.id == item_id).values(name="uncommitted"))
    return {"touched": item_id}


def allowed_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.headers.get("x-allowed") != "yes":
        msg = "not allowed"
        raise PermissionDeniedException(msg)


async def guarded(hooks: NamedDependency[Hooks]) -> dict[str, Any]:
    hooks.calls["guarded"] += 1
    return {"secret": "for allowed callers"}


ROUTES: list[tuple[Any, Any, Any]] = [
    ("/items/{item_id:int}", ResponseCacheRule(scope="public"), get_item),
    ("/plain/{item_id:int}", ResponseCacheRule(scope="public"), plain_item),
    ("/shelf-of/{item_id:int}", ResponseCacheRule(scope="public"), shelf_of),
    ("/slow/{item_id:int}", ResponseCacheRule(scope="public"), slow_item),
    ("/slow-repo/{item_id:int}", ResponseCacheRule(scope="public"), slow_repository_item),
    ("/mine", True, mine),
    ("/tenant-items", ResponseCacheRule(scope="tenant"), tenant_items),
    ("/greet", ResponseCacheRule(scope="public"), greet),
    (["/echo/{path:path}"], ResponseCacheRule(scope="public"), echo),
    ("/broken", ResponseCacheRule(scope="public"), broken),
    ("/private", ResponseCacheRule(scope="public"), private),
    ("/manual", ResponseCacheRule(scope="public", tags=("manual:banner",)), manual),
    ("/negotiated", ResponseCacheRule(scope="public", vary=("X-Api-Version",)), negotiated),
    ("/guarded", ResponseCacheRule(scope="public"), guarded),
    ("/touch/{item_id:int}", ResponseCacheRule(scope="public"), touch),
    ("/versioned", ResponseCacheRule(scope="public"), versioned),
    ("/versioned-by-dependency", ResponseCacheRule(scope="public"), versioned_by_dependency),
    ("/themed", ResponseCacheRule(scope="public"), themed),
    ("/links", ResponseCacheRule(scope="public"), links),
]
"""(path, kit rule, handler function): decorated per app, so each app owns its handlers."""


def identify(request_scope: Any) -> Caller | None:
    """The test users' identity: scope["user"] is a ``User`` with ``id`` and ``tenant`` (or absent)."""
    user: Any = request_scope.get("user")
    if user is None:
        return Caller(None, None, anonymous=True)
    return Caller(user.tenant, user.id)


def make_app(
    impl: Impl,
    store: Store,
    sessions: async_sessionmaker[AsyncSession],
    cache: AsyncCache,
    *,
    hooks: Hooks | None = None,
    middleware: list[DefineMiddleware] | None = None,
    on_app_init: list[Any] | None = None,
    identify_caller: Any = None,
    plugins: list[Any] | None = None,
    on_shutdown: list[Any] | None = None,
    extra_handlers: list[Any] | None = None,
) -> Litestar:
    """The app with ``impl``'s response cache on ``store``; sessions are bound to ``cache``."""
    bind_cache(sessions, cache)
    hooks = hooks if hooks is not None else Hooks()

    async def provide_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    dependencies = {
        "session": Provide(provide_session),
        "hooks": Provide(lambda: hooks, sync_to_thread=False, use_cache=True),
        "version": Provide(provide_version, sync_to_thread=False),
    }
    handlers = [
        get(
            path,
            name=fn.__name__,
            opt={"response_cache": rule} if impl == "kit" else {},
            cache=impl == "litestar",
            guards=[allowed_only] if fn is guarded else None,
        )(fn)
        for path, rule, fn in ROUTES
    ]
    kwargs: dict[str, Any] = {
        "route_handlers": [*handlers, *(extra_handlers or [])],
        "dependencies": dependencies,
        "stores": {"response_cache": store},
        "state": State({"cache": cache}),
        "middleware": middleware or [],
        "on_app_init": on_app_init or [],
        "on_shutdown": on_shutdown or [],
        "debug": False,
    }
    if impl == "kit":
        config = ResponseCachePluginConfig(identify=identify_caller or (lambda connection: identify(connection.scope)))
        kwargs["plugins"] = [*(plugins or []), ResponseCachePlugin(config)]
    else:
        kwargs["plugins"] = plugins or []
        kwargs["response_cache_config"] = ResponseCacheConfig(store="response_cache")
    return Litestar(**kwargs)
