"""The outbox wired by ``AlchemyKitPlugin`` (``AlchemyKitConfig.outbox``), over real apps and a real writer process.

A writer process that cannot reach the store commits (policy ``"available"``): its invalidation goes to the
outbox table, in the same transaction, and the process is killed with SIGKILL right after the commit. The
entry other processes cached before the commit is still in the store and would be served; another process
running the app drains the outbox once started, and serves the committed value.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.stores.redis import RedisStore
from litestar.testing import TestClient
from redis.asyncio import Redis
from sqlalchemy import create_engine, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from litestar_alchemy_kit import AsyncCache
from tests.integration.repository._async import ItemRepository
from tests.integration.repository._outbox_app import app_metadata, make_app
from tests.integration.repository.models import Item

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]

ROOT = Path(__file__).resolve().parents[3]
OUTBOX = "lak_invalidation_outbox"


def _until(condition: Any, what: str) -> None:
    """Wait for ``condition()`` (a guard against hanging, not a timed assertion)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


def _warm(client: TestClient[Any], item_id: uuid.UUID, expected: int) -> None:
    """Read until a hit (the first drain must have completed: an attached cache serves no hit before it)."""
    seen: list[dict[str, int]] = []

    def hit() -> bool:
        seen.append(client.get(f"/items/{item_id}").json())
        assert seen[-1]["quantity"] == expected
        return len(seen) > 1 and seen[-1]["hits"] > seen[-2]["hits"]

    _until(hit, "a cache hit")


def _stale_in_store(store_url: str, namespace: str, db_url: str, item_id: uuid.UUID) -> int:
    """What a cache with no outbox, on the same store and namespace, serves for the row."""

    async def read() -> int:
        client = Redis.from_url(store_url)
        cache = AsyncCache(RedisStore(client, namespace=None), namespace)
        engine = create_async_engine(db_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                quantity = (await ItemRepository(session=session, cache=cache).get(item_id)).quantity
            assert cache.stats["hit"] == 1
            return quantity
        finally:
            await cache.close()
            await client.aclose()
            await engine.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize("store", ["redis", "valkey"])
def test_a_writer_killed_after_its_commit_is_repaired_by_another_process_draining(
    store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store_url: str = request.getfixturevalue(f"{store}_url")
    database = tmp_path / "app.db"
    config: dict[str, Any] = {
        "db_url": f"sqlite+aiosqlite:///{database}",
        "store_url": store_url,
        "namespace": f"lakoutboxapp{uuid.uuid4().hex[:8]}",
        "bound": 3.0,
        "interval": 0.2,
    }
    sync_engine = create_engine(f"sqlite:///{database}")
    tables = app_metadata().tables
    item_id = uuid.uuid4()
    try:
        with sync_engine.begin() as conn:
            tables[Item.__table__.name].create(conn)
            conn.execute(tables[Item.__table__.name].insert().values(id=item_id, name="x", quantity=1, tenant="a"))
        # A process runs the app: the plugin adds the outbox table to the app's metadata, created at startup.
        with TestClient(make_app(config)) as reader:
            _warm(reader, item_id, 1)
        # It stopped (its drain with it). The writer cannot reach the store, commits and is killed.
        writer = {**config, "store_url": None, "item_id": str(item_id), "quantity": 2}
        done = subprocess.run(
            [sys.executable, "-m", "tests.integration.repository._outbox_app", json.dumps(writer)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == -signal.SIGKILL, done.stderr
        with sync_engine.connect() as conn:
            assert conn.execute(select(Item.quantity).where(Item.id == item_id)).scalar_one() == 2
            [outbox_row] = conn.execute(select(app_outbox(sync_engine).c.tags)).all()
        assert Item.__table__.name in outbox_row.tags
        # Without the outbox the committed value would stay hidden behind the entry cached before the commit.
        assert _stale_in_store(store_url, config["namespace"], config["db_url"], item_id) == 1

        # Another process starts the app: it drains the outbox, then serves (and caches) the committed value.
        with TestClient(make_app(config)) as other:

            def drained() -> bool:
                with sync_engine.connect() as conn:
                    return conn.execute(select(func.count()).select_from(app_outbox(sync_engine))).scalar_one() == 0

            _until(drained, "the outbox drained")
            _warm(other, item_id, 2)
    finally:
        sync_engine.dispose()


def app_outbox(engine: Any) -> Any:
    from sqlalchemy import MetaData, Table

    return Table(OUTBOX, MetaData(), autoload_with=engine)
