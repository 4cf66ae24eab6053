"""A small service on SQLite with the error contract: the target of the OpenAPI and fuzz tests."""

from pathlib import Path
from typing import Annotated, Any

import msgspec
from advanced_alchemy.base import BigIntBase, create_registry
from advanced_alchemy.exceptions import DuplicateKeyError, NotFoundError
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from litestar import Litestar, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from litestar_alchemy_kit.errors import PROBLEMS_OPT_KEY, ErrorsConfig, ErrorsPlugin


class FuzzBase(BigIntBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Widget(FuzzBase):
    __tablename__ = "lak_err_widget"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    quantity: Mapped[int]


class WidgetRepository(SQLAlchemyAsyncRepository[Widget]):
    model_type = Widget


# SQLite cannot bind integers beyond 64 bits (the driver raises a bare OverflowError): bound what reaches it.
WidgetId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]


class WidgetIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    quantity: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
    tags: list[Annotated[str, msgspec.Meta(max_length=20)]] = []


class WidgetOut(msgspec.Struct):
    id: int
    name: str
    quantity: int


class Teapot(msgspec.Struct):
    message: str


@post("/widgets", opt={PROBLEMS_OPT_KEY: [DuplicateKeyError]})
async def create_widget(data: JSONBody[WidgetIn], db_session: NamedDependency[AsyncSession]) -> WidgetOut:
    widget = await WidgetRepository(session=db_session).add(Widget(name=data.name, quantity=data.quantity))
    return WidgetOut(id=widget.id, name=widget.name, quantity=widget.quantity)


@get("/widgets/{widget_id:int}", opt={PROBLEMS_OPT_KEY: [NotFoundError]})
async def get_widget(widget_id: WidgetId, db_session: NamedDependency[AsyncSession]) -> WidgetOut:
    widget = await WidgetRepository(session=db_session).get(widget_id)
    return WidgetOut(id=widget.id, name=widget.name, quantity=widget.quantity)


@put("/widgets/{widget_id:int}/quantity", raises=[PermissionDeniedException], opt={PROBLEMS_OPT_KEY: [NotFoundError]})
async def set_quantity(
    widget_id: WidgetId,
    quantity: Annotated[int, QueryParameter(ge=0, le=1_000_000)],
    db_session: NamedDependency[AsyncSession],
) -> WidgetOut:
    repository = WidgetRepository(session=db_session)
    widget = await repository.get(widget_id)
    widget.quantity = quantity
    widget = await repository.update(widget)
    return WidgetOut(id=widget.id, name=widget.name, quantity=widget.quantity)


@get("/search", responses={418: ResponseSpec(Teapot, description="user documented", generate_examples=False)})
async def search(
    q: Annotated[str, QueryParameter(max_length=50)], limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10
) -> list[str]:
    return [q] * min(limit, 3)


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def build_app(database: Path, config: ErrorsConfig | None = None, **kwargs: Any) -> Litestar:
    db = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{database}",
        before_send_handler="autocommit",
        create_all=True,
        metadata=FuzzBase.metadata,
    )
    return Litestar(
        route_handlers=[create_widget, get_widget, set_quantity, search, health],
        plugins=[SQLAlchemyPlugin(config=db), ErrorsPlugin(config)],
        **kwargs,
    )
