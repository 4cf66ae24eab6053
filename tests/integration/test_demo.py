"""The demo application's main flow, over HTTP: on its defaults (SQLite in memory and a memory store),
and with ``DEMO_PROFILE=servers`` (PostgreSQL and Redis)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from litestar_alchemy_kit import ResponseCachePlugin

pytestmark = pytest.mark.integration


@pytest.fixture(
    params=[
        pytest.param("embedded", marks=[pytest.mark.aiosqlite, pytest.mark.memory_store]),
        pytest.param("servers", marks=[pytest.mark.asyncpg, pytest.mark.redis_store]),
    ]
)
def demo_app(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Litestar]:
    import examples.demo.app
    import examples.demo.settings

    if request.param == "servers":
        postgres: str = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("DEMO_PROFILE", "servers")
        monkeypatch.setenv(
            "DEMO_POSTGRES_URL",
            make_url(postgres).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
        )
        monkeypatch.setenv("DEMO_REDIS_URL", request.getfixturevalue("redis_url"))
    # The module reads its settings when imported, as it does when the demo starts.
    yield importlib.reload(examples.demo.app).app
    monkeypatch.undo()
    importlib.reload(examples.demo.app)


async def login(client: AsyncTestClient[Litestar], username: str) -> dict[str, str]:
    response = await client.post("/login", json={"username": username, "password": username})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_demo_main_flow(demo_app: Litestar) -> None:
    async with AsyncTestClient(app=demo_app) as client:
        alice = await login(client, "alice")
        bob = await login(client, "bob")

        created = await client.post("/notes", json={"title": "kettle", "body": "descale"}, headers=alice)
        assert created.status_code == 201, created.text
        note: dict[str, Any] = created.json()

        listed = await client.get("/notes", headers=alice)
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == [note["id"]]
        assert listed.json()["total"] == 1

        first = await client.get(f"/notes/{note['id']}", headers=alice)
        second = await client.get(f"/notes/{note['id']}", headers=alice)
        assert first.json() == second.json() == note
        # The repository's read missed; the second request never reached it: the whole response was cached.
        assert (first.headers["x-cache"], first.headers["x-response-cache"]) == ("miss", "miss")
        assert second.headers["x-response-cache"] == "hit"

        changed = await client.patch(f"/notes/{note['id']}", json={"body": "done"}, headers=alice)
        assert changed.status_code == 200, changed.text
        fresh = await client.get(f"/notes/{note['id']}", headers=alice)
        assert fresh.json()["body"] == "done"
        assert (fresh.headers["x-cache"], fresh.headers["x-response-cache"]) == ("miss", "miss")

        # Another tenant sees nothing of it, and cannot touch it.
        assert (await client.get("/notes", headers=bob)).json()["items"] == []
        for _ in range(2):  # a problem response is never stored
            foreign = await client.get(f"/notes/{note['id']}", headers=bob)
            assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")
            assert foreign.headers["content-type"].startswith("application/problem+json")
            assert foreign.headers["x-response-cache"] == "bypass"
        assert (await client.patch(f"/notes/{note['id']}", json={"body": "x"}, headers=bob)).status_code == 404
        assert (await client.delete(f"/notes/{note['id']}", headers=bob)).status_code == 404
        assert (await client.get(f"/notes/{note['id']}", headers=alice)).json()["body"] == "done"

        assert (await client.delete(f"/notes/{note['id']}", headers=alice)).status_code == 204
        assert (await client.get("/notes", headers=alice)).json()["items"] == []


async def test_demo_caches_a_tenants_notes_answers_304_and_is_fresh_after_a_write(demo_app: Litestar) -> None:
    async with AsyncTestClient(app=demo_app) as client:
        alice, dave, bob = [await login(client, name) for name in ("alice", "dave", "bob")]
        created = (await client.post("/notes", json={"title": "kettle"}, headers=alice)).json()
        path = f"/notes/{created['id']}"

        first = await client.get(path, headers=alice)
        assert (first.status_code, first.headers["x-response-cache"]) == (200, "miss")
        tag = first.headers["etag"]
        hit = await client.get(path, headers=alice)
        assert (hit.json(), hit.headers["x-response-cache"], hit.headers["etag"]) == (first.json(), "hit", tag)
        assert hit.headers["cache-control"] == "private, no-cache"
        assert "age" in hit.headers
        # One entry per tenant: dave (acme) shares alice's; bob (globex) never sees it.
        shared = await client.get(path, headers=dave)
        assert (shared.json(), shared.headers["x-response-cache"]) == (first.json(), "hit")
        assert (await client.get(path, headers=bob)).status_code == 404
        assert (await client.get("/notes", headers=bob)).json()["items"] == []

        # A current ETag: 304 from the one lookup, no handler, no repository read (one cache hit in all).
        stats = dict(demo_app.state.cache.stats)
        not_modified = await client.get(path, headers={**alice, "if-none-match": tag})
        assert (not_modified.status_code, not_modified.content, not_modified.headers["etag"]) == (304, b"", tag)
        assert not_modified.headers["x-response-cache"] == "hit"
        assert dict(demo_app.state.cache.stats) == {**stats, "hit": stats["hit"] + 1}
        engine = demo_app.plugins.get(ResponseCachePlugin).engine
        assert engine is not None
        assert engine.telemetry.stats["not_modified"] == 1

        # A write: the old ETag is no longer current, the next answer is fresh and stored, then hits.
        await client.patch(path, json={"body": "descaled"}, headers=dave)
        fresh = await client.get(path, headers={**alice, "if-none-match": tag})
        assert (fresh.status_code, fresh.json()["body"], fresh.headers["x-response-cache"]) == (200, "descaled", "miss")
        assert fresh.headers["etag"] != tag
        again = await client.get(path, headers=alice)
        assert (again.json()["body"], again.headers["x-response-cache"]) == ("descaled", "hit")

        listed = await client.get("/notes", headers=alice)
        assert (listed.json()["total"], (await client.get("/notes", headers=dave)).headers["x-response-cache"]) == (
            1,
            "hit",
        )
        await client.post("/notes", json={"title": "toaster"}, headers=alice)
        relisted = await client.get("/notes", headers=dave)
        assert (relisted.json()["total"], relisted.headers["x-response-cache"]) == (2, "miss")
        assert (await client.get("/notes", headers=alice)).headers["x-response-cache"] == "hit"

        # Callers the route cannot key (no tenant) are served uncached, and their problem is not stored.
        carol = await client.get("/notes", headers=await login(client, "carol"))
        assert (carol.status_code, carol.headers["x-response-cache"]) == (403, "bypass")


async def test_demo_refuses_callers_without_a_tenant_and_lists_tenants_publicly(demo_app: Litestar) -> None:
    async with AsyncTestClient(app=demo_app) as client:
        anonymous = await client.get("/notes")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        carol = await login(client, "carol")
        assert (await client.get("/notes", headers=carol)).status_code == 403
        bad = await client.post("/login", json={"username": "alice", "password": "nope"})
        assert bad.status_code == 401

        public = await client.get("/tenants")
        assert public.status_code == 200
        assert [(row["slug"], row["mine"]) for row in public.json()] == [
            ("acme", False),
            ("globex", False),
            ("initech", False),
        ]
        mine = await client.get("/tenants", headers=await login(client, "bob"))
        assert [row["slug"] for row in mine.json() if row["mine"]] == ["globex"]
        assert mine.headers["x-cache"] == "hit"  # the same shared listing, from the cache


async def test_demo_data_does_not_outlive_a_run(demo_app: Litestar) -> None:
    # Two runs in a row (two lifespans): the second starts empty, so the same create never conflicts.
    for _ in range(2):
        async with AsyncTestClient(app=demo_app) as client:
            alice = await login(client, "alice")
            assert (await client.get("/notes", headers=alice)).json()["total"] == 0
            created = await client.post("/notes", json={"title": "same"}, headers=alice)
            assert created.status_code == 201, created.text


async def test_demo_filters_are_in_the_openapi_document(demo_app: Litestar) -> None:
    async with AsyncTestClient(app=demo_app) as client:
        schema = (await client.get("/schema/openapi.json")).json()
        names = {parameter["name"] for parameter in schema["paths"]["/notes"]["get"]["parameters"]}
        assert {"currentPage", "pageSize", "searchString", "orderBy", "createdBefore", "updatedAfter", "ids"} <= names
        alice = await login(client, "alice")
        for title in ("b", "a", "c"):
            await client.post("/notes", json={"title": title}, headers=alice)
        page = await client.get("/notes", params={"pageSize": 2, "orderBy": "title", "sortOrder": "asc"}, headers=alice)
        assert [item["title"] for item in page.json()["items"]] == ["a", "b"]
        assert page.json()["total"] == 3
        again = await client.get(
            "/notes", params={"pageSize": 2, "orderBy": "title", "sortOrder": "asc"}, headers=alice
        )
        assert again.headers["x-response-cache"] == "hit"
        assert again.json() == page.json()
        found = await client.get("/notes", params={"searchString": "c"}, headers=alice)
        assert [item["title"] for item in found.json()["items"]] == ["c"]
