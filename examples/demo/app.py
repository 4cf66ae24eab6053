"""Demo application: a small catalogue on SQLite and an in-memory store.

It shows the features together: a cached, cache-safe AA service; the cache on a store named in
the app's ``StoreRegistry``; and every error as ``application/problem+json``. Run it with
``python -m nox -s demo`` and open http://127.0.0.1:8000/schema for the OpenAPI document;
``GET /cache`` shows the cache's hit and miss counts.
"""

from pathlib import Path
from typing import Any
from uuid import UUID

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar import Litestar, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.stores.memory import MemoryStore
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from examples.demo.models import Base, Item
from litestar_alchemy_kit import (
    AsyncCache,
    CachedAsyncRepository,
    CachedAsyncRepositoryService,
    CachePlugin,
    CachePluginConfig,
    ErrorsConfig,
    ErrorsPlugin,
)

DB_PATH = Path(__file__).with_name("demo.sqlite")


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


class ItemService(CachedAsyncRepositoryService[Item, ItemRepository]):
    repository_type = ItemRepository


class ItemIn(Struct):
    name: str
    price_cents: int


class ItemPatch(Struct, omit_defaults=True):
    name: str | None = None
    price_cents: int | None = None


class ItemOut(Struct):
    id: UUID
    name: str
    price_cents: int


def _out(item: Item) -> ItemOut:
    return ItemOut(id=item.id, name=item.name, price_cents=item.price_cents)


@get("/items")
async def list_items(db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache]) -> list[ItemOut]:
    items = await ItemService(db_session, cache=cache).get_many(order_by=("name", False))
    return [_out(item) for item in items]


@get("/items/{item_id:uuid}")
async def get_item(
    db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache], item_id: FromPath[UUID]
) -> ItemOut:
    return _out(await ItemService(db_session, cache=cache).get(item_id))


@post("/items")
async def create_item(
    db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache], data: JSONBody[ItemIn]
) -> ItemOut:
    item = await ItemService(db_session, cache=cache).create(Item(name=data.name, price_cents=data.price_cents))
    return _out(item)


@patch("/items/{item_id:uuid}")
async def update_item(
    db_session: NamedDependency[AsyncSession],
    cache: NamedDependency[AsyncCache],
    item_id: FromPath[UUID],
    data: JSONBody[ItemPatch],
) -> ItemOut:
    changes: dict[str, Any] = {
        key: value for key, value in (("name", data.name), ("price_cents", data.price_cents)) if value is not None
    }
    return _out(await ItemService(db_session, cache=cache).update(changes, item_id=item_id))


@delete("/items/{item_id:uuid}")
async def delete_item(
    db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache], item_id: FromPath[UUID]
) -> None:
    await ItemService(db_session, cache=cache).delete(item_id)


@get("/cache")
async def cache_stats(cache: NamedDependency[AsyncCache]) -> dict[str, int]:
    return dict(cache.stats)


alchemy = SQLAlchemyAsyncConfig(
    connection_string=f"sqlite+aiosqlite:///{DB_PATH}",
    metadata=Base.metadata,
    create_all=True,
    session_config=AsyncSessionConfig(expire_on_commit=False),
    before_send_handler="autocommit",
)

app = Litestar(
    route_handlers=[list_items, get_item, create_item, update_item, delete_item, cache_stats],
    plugins=[
        SQLAlchemyPlugin(config=alchemy),
        CachePlugin(CachePluginConfig(store="cache", namespace="demo")),
        ErrorsPlugin(ErrorsConfig()),
    ],
    stores={"cache": MemoryStore()},
)
