"""The demo application answers on its embedded defaults (SQLite and an in-memory store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient


@pytest.fixture
def demo_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from examples.demo import app as demo

    monkeypatch.setattr(demo.alchemy, "connection_string", f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite'}")
    return demo.app


async def test_demo_crud(demo_app) -> None:
    async with AsyncTestClient(app=demo_app) as client:
        created = await client.post("/items", json={"name": "kettle", "price_cents": 2599})
        assert created.status_code == 201, created.text
        item = created.json()
        assert (await client.get(f"/items/{item['id']}")).json() == item
        assert (await client.get("/items")).json() == [item]
