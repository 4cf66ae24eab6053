"""The demo application answers on its embedded defaults (SQLite and an in-memory store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient


@pytest.fixture
def demo_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Litestar:
    from examples.demo import app as demo

    monkeypatch.setattr(demo.alchemy, "connection_string", f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite'}")
    return demo.app


async def test_demo_serves_cached_reads_that_follow_writes(demo_app: Litestar) -> None:
    async with AsyncTestClient(app=demo_app) as client:
        created = await client.post("/items", json={"name": "kettle", "price_cents": 2599})
        assert created.status_code == 201, created.text
        item = created.json()

        assert (await client.get(f"/items/{item['id']}")).json() == item
        assert (await client.get(f"/items/{item['id']}")).json() == item
        assert (await client.get("/cache")).json()["hit"] >= 1

        changed = await client.patch(f"/items/{item['id']}", json={"price_cents": 1999})
        assert changed.status_code == 200, changed.text
        assert (await client.get(f"/items/{item['id']}")).json()["price_cents"] == 1999
        assert [row["price_cents"] for row in (await client.get("/items")).json()] == [1999]

        assert (await client.delete(f"/items/{item['id']}")).status_code == 204
        assert (await client.get("/items")).json() == []


async def test_demo_errors_are_problem_details(demo_app: Litestar) -> None:
    async with AsyncTestClient(app=demo_app) as client:
        await client.post("/items", json={"name": "kettle", "price_cents": 1})
        duplicate = await client.post("/items", json={"name": "kettle", "price_cents": 2})
        assert duplicate.status_code == 409
        assert duplicate.headers["content-type"].startswith("application/problem+json")
        body = duplicate.json()
        assert body["code"] == "conflict.duplicate"
        assert "UNIQUE" not in duplicate.text
        assert "demo_item" not in duplicate.text

        missing = await client.get("/items/00000000-0000-0000-0000-000000000000")
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
