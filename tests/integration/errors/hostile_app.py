"""Apps whose routes meet hostile input and a failing database: out-of-range numbers, lost connections, a full pool.

The async and the sync app have the same routes; the test decides what breaks (which engine, which kill).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advanced_alchemy.extensions.litestar import (
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
    SQLAlchemySyncConfig,
)
from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import Engine, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from litestar_alchemy_kit.errors import ErrorsPlugin
from tests.integration.errors.models import Numbers, Parent

Kill = Callable[[int], None]
"""Ends the server session with the given id from another connection."""

BACKEND_ID = {
    "postgresql": "SELECT pg_backend_pid()",
    "mysql": "SELECT CONNECTION_ID()",
    "mariadb": "SELECT CONNECTION_ID()",
}


@dataclass
class NumbersIn:
    id: int
    small: int | None = None
    big: int | None = None


class NumbersRepository(SQLAlchemyAsyncRepository[Numbers]):
    model_type = Numbers


class SyncNumbersRepository(SQLAlchemySyncRepository[Numbers]):
    model_type = Numbers


def build_hostile_app(engine: AsyncEngine, kill: Kill | None = None) -> Litestar:
    """The async app on ``engine``; ``kill`` ends a connection for ``/lost-connection``."""

    @post("/numbers", status_code=201)
    async def create_numbers(data: JSONBody[NumbersIn], db_session: NamedDependency[AsyncSession]) -> dict[str, int]:
        await NumbersRepository(session=db_session).add(Numbers(id=data.id, small=data.small, big=data.big))
        return {"id": data.id}

    @post("/lost-connection", status_code=201)
    async def lose_connection(db_session: NamedDependency[AsyncSession]) -> None:
        """Write, lose the connection, write again: the first write must not survive."""
        db_session.add(Parent(id=20, name="before the kill"))
        await db_session.flush()
        backend_id = (await db_session.execute(text(BACKEND_ID[engine.dialect.name]))).scalar_one()
        assert kill is not None
        kill(int(backend_id))
        db_session.add(Parent(id=21, name="after the kill"))
        await db_session.flush()

    @get("/parents")
    async def list_parents(db_session: NamedDependency[AsyncSession]) -> list[str]:
        return list((await db_session.scalars(select(Parent.name))).all())

    @get("/exhausted-pool")
    async def exhaust_pool(db_session: NamedDependency[AsyncSession]) -> list[str]:
        """Hold the pool's only connection while the session asks for one."""
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            return list((await db_session.scalars(select(Parent.name))).all())

    config = SQLAlchemyAsyncConfig(engine_instance=engine, before_send_handler="autocommit", create_all=False)
    return Litestar(
        route_handlers=[create_numbers, lose_connection, list_parents, exhaust_pool],
        plugins=[SQLAlchemyPlugin(config=config), ErrorsPlugin()],
        on_shutdown=[engine.dispose],
    )


def build_sync_hostile_app(engine: Engine, kill: Kill | None = None) -> Litestar:
    """The same routes on a sync engine (handlers on the event loop thread: pysqlite refuses other threads)."""

    @post("/numbers", status_code=201, sync_to_thread=False)
    def create_numbers(data: JSONBody[NumbersIn], db_session: NamedDependency[Session]) -> dict[str, int]:
        SyncNumbersRepository(session=db_session).add(Numbers(id=data.id, small=data.small, big=data.big))
        return {"id": data.id}

    @post("/lost-connection", status_code=201, sync_to_thread=False)
    def lose_connection(db_session: NamedDependency[Session]) -> None:
        db_session.add(Parent(id=20, name="before the kill"))
        db_session.flush()
        backend_id = db_session.execute(text(BACKEND_ID[engine.dialect.name])).scalar_one()
        assert kill is not None
        kill(int(backend_id))
        db_session.add(Parent(id=21, name="after the kill"))
        db_session.flush()

    @get("/parents", sync_to_thread=False)
    def list_parents(db_session: NamedDependency[Session]) -> list[str]:
        return list(db_session.scalars(select(Parent.name)).all())

    @get("/exhausted-pool", sync_to_thread=False)
    def exhaust_pool(db_session: NamedDependency[Session]) -> list[str]:
        with engine.connect() as held:
            held.execute(text("SELECT 1"))
            return list(db_session.scalars(select(Parent.name)).all())

    config = SQLAlchemySyncConfig(engine_instance=engine, before_send_handler="autocommit", create_all=False)
    plugins: list[Any] = [SQLAlchemyPlugin(config=config), ErrorsPlugin()]
    return Litestar(
        route_handlers=[create_numbers, lose_connection, list_parents, exhaust_pool],
        plugins=plugins,
        on_shutdown=[engine.dispose],
    )
