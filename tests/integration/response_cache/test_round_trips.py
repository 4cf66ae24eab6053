"""The 304 path, counted where it happens: by the Redis/Valkey server (MONITOR) and by statement counting.

A matching ``If-None-Match`` costs exactly one store command (the ``MGET`` of the entry and its tag
versions), no SQL statement and no handler call; so does a 304 whose stored body is gone.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from litestar_alchemy_kit.cache import AsyncCache
from tests.integration.response_cache._app import Hooks
from tests.integration.response_cache.conftest import app_for, warm
from tests.integration.response_cache.test_cross_process import PATIENT, SERVERS, _store

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]


def _sync_client(server: str, url: str) -> Any:
    if server == "redis":
        from redis import Redis

        return Redis.from_url(url)
    from valkey import Valkey

    return Valkey.from_url(url)


@contextmanager
def server_commands(server: str, url: str, marker: str) -> Iterator[list[str]]:
    """Every command the server runs inside the block whose text contains ``marker`` (MONITOR, filtered)."""
    seen: list[str] = []
    control = _sync_client(server, url)
    ready, done = threading.Event(), threading.Event()
    start, stop = f"lak-monitor-start-{uuid.uuid4().hex}", f"lak-monitor-stop-{uuid.uuid4().hex}"

    def watch() -> None:
        with _sync_client(server, url).monitor() as monitor:
            for entry in monitor.listen():
                command = entry["command"]
                if start in command:
                    ready.set()
                elif stop in command:
                    done.set()
                    return
                elif marker in command:
                    seen.append(command)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    while not ready.is_set():
        control.echo(start)
        ready.wait(0.05)
    try:
        yield seen
    finally:
        control.echo(stop)
        assert done.wait(10)
        thread.join(10)
        control.close()


@contextmanager
def sql_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


@pytest.fixture(params=SERVERS)
async def served(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[tuple[Any, ...]]:
    server: str = request.param
    url: str = request.getfixturevalue(f"{server}_url")
    store_ns = f"lakrct{uuid.uuid4().hex[:8]}"
    store, client = _store(server, url, store_ns)
    cache = AsyncCache(store, namespace=f"lakrc{uuid.uuid4().hex[:8]}", options=PATIENT)
    hooks = Hooks()

    async def release() -> None:
        await cache.close()
        await store.delete_all()
        await client.aclose()

    app = app_for("kit", store, async_sessionmaker(engine, expire_on_commit=False), cache, hooks, [release])
    async with AsyncTestClient(app) as test_client:
        await warm(test_client, hooks)
        yield test_client, hooks, server, url, store_ns


@pytest.mark.parametrize("body_gone", [False, True], ids=["stored", "body-gone"])
async def test_304_costs_one_store_command_no_sql_and_no_handler_call(
    served: tuple[Any, ...], engine: AsyncEngine, body_gone: bool
) -> None:
    client: AsyncTestClient[Litestar] = served[0]
    hooks: Hooks = served[1]
    server, url, store_ns = served[2:]
    first = await client.get("/items/1")  # a miss, stored: the cached repository read the row tag's version first
    assert first.headers["x-cache"] == "miss"
    assert (await client.get("/items/1")).headers["x-cache"] == "hit"
    if body_gone:
        control = _sync_client(server, url)
        bodies = list(control.scan_iter(match=f"{store_ns}:*:e:resp:*"))
        assert len(bodies) >= 1  # /items/1, and routes the warm-up stored
        control.delete(*bodies)
        control.close()
    calls = hooks.calls["item"]
    with server_commands(server, url, store_ns) as commands, sql_statements(engine) as statements:
        answer = await client.get("/items/1", headers={"if-none-match": first.headers["etag"]})
    assert answer.status_code == 304
    assert statements == []
    assert len(commands) == 1, commands
    assert commands[0].upper().startswith("MGET")
    assert hooks.calls["item"] == calls
