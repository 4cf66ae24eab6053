"""The constraint-violating app of ``app.py`` on Advanced Alchemy's sync config (sync handlers, sync engines)."""

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin, SQLAlchemySyncConfig
from advanced_alchemy.repository import SQLAlchemySyncRepository
from litestar import Litestar, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import Scope
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from litestar_alchemy_kit.errors import ErrorsPlugin
from tests.integration.errors.models import Child, Parent


class ParentRepository(SQLAlchemySyncRepository[Parent]):
    model_type = Parent


class ChildRepository(SQLAlchemySyncRepository[Child]):
    model_type = Child


# Handlers run on the event loop thread: sync drivers such as pysqlite refuse connections from other threads.
@post("/violations/{kind:str}", status_code=201, sync_to_thread=False)
def violate(kind: FromPath[str], db_session: NamedDependency[Session]) -> None:
    """Flush a row that breaks the constraint ``kind`` (the fixture seeded parent 1, named ``taken``)."""
    if kind == "unique":
        ParentRepository(session=db_session).add(Parent(id=2, name="taken"))
    elif kind == "foreign_key":
        ChildRepository(session=db_session).add(Child(id=1, parent_id=999, name="orphan", qty=1))
    elif kind == "not_null":
        ChildRepository(session=db_session).add(Child(id=2, parent_id=1, name=None, qty=1))
    elif kind == "check":
        ChildRepository(session=db_session).add(Child(id=3, parent_id=1, name="negative", qty=-1))


@post("/commit-time/unique", status_code=201, sync_to_thread=False)
def duplicate_at_commit(db_session: NamedDependency[Session]) -> dict[str, str]:
    """Nothing is flushed here: the violation happens when the autocommit handler commits."""
    db_session.add(Parent(id=3, name="taken"))
    return {"status": "created"}


def build_sync_app(engine: Engine, captured: list[BaseException]) -> Litestar:
    """The app, with ``captured`` receiving every exception that reached the exception handlers."""

    async def capture(exc: BaseException, scope: Scope) -> None:
        captured.append(exc)

    config = SQLAlchemySyncConfig(engine_instance=engine, before_send_handler="autocommit", create_all=False)
    plugins: list[Any] = [SQLAlchemyPlugin(config=config), ErrorsPlugin()]
    return Litestar(route_handlers=[violate, duplicate_at_commit], plugins=plugins, after_exception=[capture])
