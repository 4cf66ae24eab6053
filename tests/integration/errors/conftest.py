"""The engines of the error tests: the matrix's, with this package's tables created and parent 1 seeded."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from tests.integration.errors.models import DeferredBase, ErrorsBase, Parent, has_deferrable


def _enforce_sqlite_foreign_keys(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()


@pytest.fixture
async def engine(async_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    _enforce_sqlite_foreign_keys(async_engine.sync_engine)
    deferred = has_deferrable(async_engine.dialect.name)
    async with async_engine.begin() as conn:
        if deferred:
            await conn.run_sync(DeferredBase.metadata.drop_all)
        await conn.run_sync(ErrorsBase.metadata.drop_all)
        await conn.run_sync(ErrorsBase.metadata.create_all)
        if deferred:
            await conn.run_sync(DeferredBase.metadata.create_all)
    async with async_sessionmaker(async_engine)() as session:
        session.add(Parent(id=1, name="taken"))
        await session.commit()
    # The test client runs the app on an event loop of its own: pooled connections must not cross loops.
    await async_engine.dispose()
    yield async_engine
    await async_engine.dispose()
    async with async_engine.begin() as conn:
        if deferred:
            await conn.run_sync(DeferredBase.metadata.drop_all)
        await conn.run_sync(ErrorsBase.metadata.drop_all)


@pytest.fixture
def seeded_sync_engine(sync_engine: Engine) -> Iterator[Engine]:
    _enforce_sqlite_foreign_keys(sync_engine)
    ErrorsBase.metadata.drop_all(sync_engine)
    ErrorsBase.metadata.create_all(sync_engine)
    with sessionmaker(sync_engine)() as session:
        session.add(Parent(id=1, name="taken"))
        session.commit()
    yield sync_engine
    sync_engine.dispose()
    ErrorsBase.metadata.drop_all(sync_engine)
