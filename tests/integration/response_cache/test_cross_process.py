"""Write invalidation across OS processes: a commit in a writer process (async or sync) makes the next GET fresh.

The app serves from Redis or Valkey; a writer process with a cache client of its own updates the
row behind the cached responses, many times over. Every GET after a commit returned must show the
commit; a rolled back write leaves the stored response a hit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.stores.base import Store
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from litestar_alchemy_kit.cache import AsyncCache, CacheOptions
from tests.integration.response_cache._app import Hooks
from tests.integration.response_cache.conftest import app_for, warm

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
# A store call slower than the default 0.5 s is a miss (fail open): on a loaded test machine that would
# turn a warm-up into a bypass. These tests are about invalidation, not timeouts.
PATIENT = CacheOptions(timeout=10.0)
ITERATIONS = 30
SERVERS = [
    pytest.param("redis", id="redis", marks=pytest.mark.redis_store),
    pytest.param("valkey", id="valkey", marks=pytest.mark.valkey_store),
]


def _store(server: str, url: str, namespace: str) -> tuple[Store, Any]:
    if server == "redis":
        from litestar.stores.redis import RedisStore
        from redis.asyncio import Redis

        client: Any = Redis.from_url(url)
        return RedisStore(client, namespace=namespace), client
    from litestar.stores.valkey import ValkeyStore
    from valkey.asyncio import Valkey

    client = Valkey.from_url(url)
    return ValkeyStore(client, namespace=namespace), client


class Writer:
    """The writer process and its line protocol."""

    def __init__(self, flavour: str, db_path: Path, server: str, url: str, store_ns: str, cache_ns: str) -> None:  # noqa: PLR0917
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.response_cache._writer_process",
                flavour,
                str(db_path),
                server,
                url,
                store_ns,
                cache_ns,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def send(self, command: str, value: int) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{command} {value}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok", "the writer process failed"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0


@pytest.fixture(params=SERVERS)
async def served(
    request: pytest.FixtureRequest, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Hooks, str, str, str, str]]:
    server: str = request.param
    url: str = request.getfixturevalue(f"{server}_url")
    store_ns, cache_ns = f"lakrcx{uuid.uuid4().hex[:8]}", f"lakrc{uuid.uuid4().hex[:8]}"
    store, client = _store(server, url, store_ns)
    cache = AsyncCache(store, namespace=cache_ns, options=PATIENT)
    hooks = Hooks()

    async def release() -> None:
        # On the app's own event loop, where the connections were opened.
        await cache.close()
        await store.delete_all()
        await client.aclose()

    app = app_for("kit", store, async_sessionmaker(engine, expire_on_commit=False), cache, hooks, [release])
    async with AsyncTestClient(app) as test_client:
        await warm(test_client, hooks)
        yield test_client, hooks, server, url, store_ns, cache_ns


@pytest.fixture(params=["async", "sync"])
def writer(request: pytest.FixtureRequest, served: tuple[Any, ...], tmp_path: Path) -> Iterator[Writer]:
    _, _, server, url, store_ns, cache_ns = served
    writer = Writer(request.param, tmp_path / "rc.db", server, url, store_ns, cache_ns)
    try:
        yield writer
    finally:
        writer.close()


@pytest.mark.parametrize("route", ["/items/1", "/plain/1"])
async def test_a_commit_in_another_process_makes_the_next_get_fresh_every_time(
    served: tuple[Any, ...], writer: Writer, route: str
) -> None:
    client, hooks = served[0], served[1]
    for i in range(1, ITERATIONS + 1):
        before = await client.get(route)
        assert before.json()["quantity"] == i - 1
        hit = await client.get(route)
        assert hit.headers["x-cache"] == "hit", f"iteration {i}"
        writer.send("set", i)
        after = await client.get(route)
        assert after.json()["quantity"] == i, f"iteration {i}: served a response from before the commit"
        assert after.headers["x-cache"] == "miss", f"iteration {i}"
        assert (await client.get(route, headers={"if-none-match": hit.headers["etag"]})).status_code == 200
        writer.send("rollback", 10_000 + i)
        kept = await client.get(route)
        assert kept.headers["x-cache"] == "hit", (
            f"iteration {i}: a rollback invalidated the entry, or the miss was not stored"
        )
        assert kept.json()["quantity"] == i
    # One run per commit, and the first: every miss after a write was stored.
    assert hooks.calls[route.split("/")[1].replace("items", "item")] == ITERATIONS + 1
