"""Fixtures of the response cache tests: a seeded SQLite database, a cache, the app and a client."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.response_cache import ResponseCachePlugin
from tests.integration.response_cache._app import Base, Hooks, Impl, Item, Shelf, make_app


@dataclasses.dataclass(frozen=True)
class User:
    id: str
    tenant: str | None


USERS = {"alice": User("alice", "acme"), "carol": User("carol", "acme"), "bob": User("bob", "globex")}


class HeaderAuth(AbstractAuthenticationMiddleware):
    """Test authentication: ``X-User: <name>`` (no header: anonymous; an unknown name: 401)."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        name = connection.headers.get("x-user")
        return AuthenticationResult(user=None if name is None else USERS[name], auth=name)


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        session.add(Shelf(id=1, name="top"))
        session.add_all(
            [
                Item(id=1, name="apple", tenant="acme", owner="alice", shelf_id=1),
                Item(id=2, name="pear", tenant="acme", owner="carol"),
                Item(id=3, name="plum", tenant="globex", owner="bob"),
            ]
        )
        await session.commit()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'rc.db'}")
    await seed(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


AppFactory = Callable[..., Litestar]


@pytest.fixture
def memory_store() -> Store:
    return MemoryStore()


@pytest.fixture
async def cache(memory_store: Store) -> AsyncIterator[AsyncCache]:
    cache = AsyncCache(memory_store, namespace=f"lakrc{uuid.uuid4().hex[:8]}")
    yield cache
    await cache.close()


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
async def client(
    memory_store: Store, sessions: async_sessionmaker[AsyncSession], cache: AsyncCache, hooks: Hooks
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = make_app("kit", memory_store, sessions, cache, hooks=hooks, middleware=[DefineMiddleware(HeaderAuth)])
    async with AsyncTestClient(app) as client:
        await warm(client, hooks)
        yield client


WARM = ("/items/2", "/plain/2", "/shelf-of/2", "/slow/2", "/manual", "/negotiated", "/mine", "/tenant-items")


async def warm(client: AsyncTestClient[Litestar], hooks: Hooks) -> None:
    """One request per route: a process learns the tables a route's plain queries read on its first miss.

    (A response built from cached repository reads is stored at once: the cache read its tags' versions
    first.) Then no calls are counted, and no route needs to learn anything for keys like these.
    """
    hooks.release.set()
    for path in WARM:
        answer = await client.get(path, headers={"x-user": "alice"})
        engine = client.app.plugins.get(ResponseCachePlugin).engine
        reasons = None if engine is None else engine.telemetry.bypass_reasons
        assert answer.headers["x-cache"] == "miss", (path, answer.status_code, answer.text, reasons)
    hooks.calls.clear()
    hooks.release.clear()
    hooks.entered.clear()


def app_for(  # noqa: PLR0917
    impl: Impl,
    store: Store,
    sessions: async_sessionmaker[AsyncSession],
    cache: AsyncCache,
    hooks: Hooks,
    on_shutdown: list[Any] | None = None,
) -> Litestar:
    return make_app(
        impl, store, sessions, cache, hooks=hooks, middleware=[DefineMiddleware(HeaderAuth)], on_shutdown=on_shutdown
    )
