"""A drain that keeps failing says so once, as a warning: a database without the outbox table (a config whose
database was not migrated) or out of reach stops the namespace's hits, which must not happen silently. Later
failures of the same run are debug records; the first drain that completes again is an info record, and hits
resume. Real SQLite databases and the real in-process stores; the waits poll with generous limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from litestar_alchemy_kit.cache import AsyncCache, AsyncMemoryBackend, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table

pytestmark = [pytest.mark.integration]

TABLE = "lak_drain_failures_outbox"
INTERVAL = 0.05


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def levels(self) -> list[int]:
        return [record.levelno for record in self.records]


@pytest.fixture
def records() -> Iterator[_Records]:
    logger = logging.getLogger("litestar_alchemy_kit.orm.outbox")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.01)


async def _await(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.01)


def _check_failing(records: _Records, drained: bool) -> None:
    warnings = [record for record in records.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, f"one warning per failing run, got {records.levels()}"
    assert TABLE in str(warnings[0].exc_info[1] if warnings[0].exc_info else ""), "the cause names the missing table"
    assert "failed (namespace=lakdf)" in warnings[0].getMessage()
    assert not drained, "no drain completed: the cache serves no hits"


def test_an_async_drain_without_its_table_warns_once_then_recovers(tmp_path: Path, records: _Records) -> None:
    path = tmp_path / "async.db"
    table = outbox_table(MetaData(), TABLE)

    async def scenario() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        cache = AsyncCache(AsyncMemoryBackend(), namespace="lakdf")
        outbox = InvalidationOutbox(table, staleness_bound=1.0, drain_interval=INTERVAL)
        outbox.attach(cache)
        task = asyncio.ensure_future(outbox.run_async(engine, cache))
        try:
            await _await(lambda: records.levels().count(logging.DEBUG) >= 2, "three failed drains")
            _check_failing(records, cache.drained)
            async with engine.begin() as connection:  # the table is migrated
                await connection.run_sync(table.metadata.create_all)
            await _await(lambda: logging.INFO in records.levels(), "a drain completing again")
            assert cache.drained
            assert "completes again (namespace=lakdf)" in records.records[-1].getMessage()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await cache.close()
            await engine.dispose()

    asyncio.run(scenario())


def test_a_sync_drain_without_its_table_warns_once_then_recovers(tmp_path: Path, records: _Records) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    table = outbox_table(MetaData(), TABLE)
    cache = SyncCache(SyncMemoryBackend(), namespace="lakdf")
    outbox = InvalidationOutbox(table, staleness_bound=1.0, drain_interval=INTERVAL)
    outbox.attach(cache)
    thread = outbox.run_sync(engine, cache)
    try:
        _wait(lambda: records.levels().count(logging.DEBUG) >= 2, "three failed drains")
        _check_failing(records, cache.drained)
        with engine.begin() as connection:
            table.metadata.create_all(connection)
        _wait(lambda: logging.INFO in records.levels(), "a drain completing again")
        assert cache.drained
    finally:
        outbox.stop()
        thread.join(10)
        cache.close()
        engine.dispose()
