"""The apps ``bench_response_cache.py`` measures: one product route, cached by the kit, by Litestar, or not at all.

Every variant authenticates the same way (``X-User`` header, a trivial middleware), reads the row
through the kit's cached repository (MemoryStore cache) and renders the same JSON. ``make_app``
builds one; uvicorn loads ``app`` with the variant and database path from the environment
(``LAK_BENCH_VARIANT``, ``LAK_BENCH_DB``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from _models import Product
from litestar import Litestar, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.params import FromPath
from litestar.stores.memory import MemoryStore
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.repository import CachedAsyncRepository
from litestar_alchemy_kit.response_cache import ResponseCachePlugin, ResponseCachePluginConfig, ResponseCacheRule

VARIANTS = ("kit", "litestar", "uncached")


class Products(CachedAsyncRepository[Product]):
    model_type = Product


class HeaderAuth(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        user = connection.headers.get("x-user")
        return AuthenticationResult(user=user, auth=None)


def make_app(variant: str, db_url: str) -> Litestar:
    engine = create_async_engine(db_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    cache = AsyncCache(MemoryStore(), namespace="bench")
    bind_cache(sessions, cache)

    async def provide_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    @get(
        "/products/{product_id:uuid}",
        opt={"response_cache": ResponseCacheRule(scope="user")} if variant == "kit" else {},
        cache=variant == "litestar",
    )
    async def product(product_id: FromPath[uuid.UUID], session: NamedDependency[AsyncSession]) -> dict[str, Any]:
        item = await Products(session=session, cache=cache).get(product_id)
        return {
            "id": str(item.id),
            "name": item.name,
            "sku": item.sku,
            "description": item.description,
            "quantity": item.quantity,
            "price": str(item.price),
            "weight": item.weight,
            "active": item.active,
            "category": item.category,
            "created": item.created.isoformat(),
        }

    kwargs: dict[str, Any] = {
        "route_handlers": [product],
        "dependencies": {"session": Provide(provide_session)},
        "middleware": [DefineMiddleware(HeaderAuth)],
        "state": State({"cache": cache}),
        "on_shutdown": [engine.dispose],
    }
    if variant == "kit":
        kwargs["plugins"] = [ResponseCachePlugin(ResponseCachePluginConfig())]
    elif variant == "litestar":
        kwargs["response_cache_config"] = ResponseCacheConfig(store="response_cache")
        kwargs["stores"] = {"response_cache": MemoryStore()}
    return Litestar(**kwargs)


if os.environ.get("LAK_BENCH_VARIANT"):
    app = make_app(os.environ["LAK_BENCH_VARIANT"], os.environ["LAK_BENCH_DB"])
