"""A real Litestar + Advanced Alchemy app whose routes violate each constraint for real."""

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from litestar import Litestar, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin
from tests.integration.errors.models import Child, DeferredChild, Parent


class ParentRepository(SQLAlchemyAsyncRepository[Parent]):
    model_type = Parent


class ChildRepository(SQLAlchemyAsyncRepository[Child]):
    model_type = Child


VIOLATIONS = {  # the (status, code) each violation must produce
    "unique": (409, "conflict.duplicate"),
    "foreign_key": (409, "conflict.foreign_key"),
    "not_null": (422, "integrity.not_null"),
    "check": (422, "integrity.check"),
}


@post("/violations/{kind:str}", status_code=201)
async def violate(kind: FromPath[str], db_session: NamedDependency[AsyncSession]) -> None:
    """Flush a row that breaks the constraint ``kind`` (the fixture seeded parent 1, named ``taken``)."""
    children = ChildRepository(session=db_session)
    if kind == "unique":
        await ParentRepository(session=db_session).add(Parent(id=2, name="taken"))
    elif kind == "foreign_key":
        await children.add(Child(id=1, parent_id=999, name="orphan", qty=1))
    elif kind == "not_null":
        await children.add(Child(id=2, parent_id=1, name=None, qty=1))
    elif kind == "check":
        await children.add(Child(id=3, parent_id=1, name="negative", qty=-1))
    elif kind == "too_long":
        await ParentRepository(session=db_session).add(Parent(id=4, name="x" * 60))


@post("/commit-time/unique", status_code=201)
async def duplicate_at_commit(db_session: NamedDependency[AsyncSession]) -> dict[str, str]:
    """Nothing is flushed here: the violation happens when the autocommit handler commits."""
    db_session.add(Parent(id=3, name="taken"))
    return {"status": "created"}


@post("/commit-time/deferred", status_code=201)
async def deferred_at_commit(db_session: NamedDependency[AsyncSession]) -> dict[str, str]:
    """The flush succeeds; the deferred foreign key is only checked at commit."""
    db_session.add(DeferredChild(id=1, parent_id=999))
    await db_session.flush()
    return {"status": "created"}


@post("/parents/{parent_id:int}", status_code=201)
async def create_parent(parent_id: FromPath[int], db_session: NamedDependency[AsyncSession]) -> dict[str, int]:
    db_session.add(Parent(id=parent_id, name=f"parent-{parent_id}"))
    return {"id": parent_id}


def build_app(engine: AsyncEngine, captured: list[BaseException], *, with_errors_plugin: bool = True) -> Litestar:
    """The app, with ``captured`` receiving every exception that reached the exception handlers."""

    async def capture(exc: BaseException, scope: Scope) -> None:
        captured.append(exc)

    config = SQLAlchemyAsyncConfig(engine_instance=engine, before_send_handler="autocommit", create_all=False)
    plugins: list[Any] = [SQLAlchemyPlugin(config=config)]
    if with_errors_plugin:
        plugins.append(ErrorsPlugin(ErrorsConfig()))
    return Litestar(
        route_handlers=[violate, duplicate_at_commit, deferred_at_commit, create_parent],
        plugins=plugins,
        after_exception=[capture],
        # The test client serves the app on an event loop of its own; its pooled connections must not outlive it
        # (AA's lifespan skips disposing when its engine state key was renamed to stay unique).
        on_shutdown=[engine.dispose],
    )
