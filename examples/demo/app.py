"""Demo application: a small catalogue on SQLite and an in-memory store.

Run it with ``python -m nox -s demo`` (or ``litestar --app examples.demo.app:app run``) and open
http://127.0.0.1:8000/schema for the OpenAPI document.
"""

from pathlib import Path
from uuid import UUID

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.stores.memory import MemoryStore
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from examples.demo.models import Base, Item

DB_PATH = Path(__file__).with_name("demo.sqlite")


class ItemRepository(SQLAlchemyAsyncRepository[Item]):
    model_type = Item


class ItemIn(Struct):
    name: str
    price_cents: int


class ItemOut(Struct):
    id: UUID
    name: str
    price_cents: int


def _out(item: Item) -> ItemOut:
    return ItemOut(id=item.id, name=item.name, price_cents=item.price_cents)


@get("/items")
async def list_items(db_session: AsyncSession) -> list[ItemOut]:
    return [_out(item) for item in await ItemRepository(session=db_session).get_many(order_by=("name", False))]


@get("/items/{item_id:uuid}")
async def get_item(db_session: AsyncSession, item_id: UUID) -> ItemOut:
    return _out(await ItemRepository(session=db_session).get(item_id))


@post("/items")
async def create_item(db_session: AsyncSession, data: JSONBody[ItemIn]) -> ItemOut:
    item = await ItemRepository(session=db_session).add(Item(name=data.name, price_cents=data.price_cents))
    return _out(item)


alchemy = SQLAlchemyAsyncConfig(
    connection_string=f"sqlite+aiosqlite:///{DB_PATH}",
    metadata=Base.metadata,
    create_all=True,
    session_config=AsyncSessionConfig(expire_on_commit=False),
    before_send_handler="autocommit",
)

app = Litestar(
    route_handlers=[list_items, get_item, create_item],
    plugins=[SQLAlchemyPlugin(config=alchemy)],
    stores={"lak_cache": MemoryStore()},
)
