"""The kit's response cache on one process: hits, 304s, what is never stored, invalidation by commits, stampedes."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from litestar import Litestar
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.response_cache import ResponseCachePlugin
from tests.integration.response_cache._app import Hooks, Item, ItemRepository, Shelf

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.memory_store]

Client = AsyncTestClient[Litestar]


async def test_second_request_is_a_hit_with_etag_age_cache_control_and_vary(client: Client, hooks: Hooks) -> None:
    # A key the route never served (get(pk) reads its own row's tag): its first miss is stored all the same,
    # labelled with the versions the cached repository read before its query.
    first = await client.get("/items/1")
    second = await client.get("/items/1")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"id": 1, "name": "apple", "quantity": 0}
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["etag"].startswith('W/"')
    assert second.headers["age"] == "0"
    assert second.headers["cache-control"] == "public, no-cache"
    assert second.headers["vary"] == "Accept, Accept-Encoding, Accept-Language"
    assert hooks.calls["item"] == 1


async def test_if_none_match_is_answered_304_without_the_handler(client: Client, hooks: Hooks) -> None:
    tag = (await client.get("/items/1")).headers["etag"]
    for header in (tag, f'"other", {tag}', tag.removeprefix("W/"), "*"):
        answer = await client.get("/items/1", headers={"if-none-match": header})
        assert answer.status_code == 304, header
        assert answer.content == b""
        assert answer.headers["etag"] == tag
    assert (await client.get("/items/1", headers={"if-none-match": 'W/"stale"'})).status_code == 200
    assert hooks.calls["item"] == 1


async def test_304_when_the_body_is_gone_but_the_etag_is_current(
    client: Client, hooks: Hooks, cache: AsyncCache, memory_store: MemoryStore
) -> None:
    before = set(memory_store._store)
    first = await client.get("/items/1")
    bodies = [key for key in set(memory_store._store) - before if key.startswith(f"{cache.namespace}:e:resp:")]
    assert len(bodies) == 1
    await memory_store.delete(bodies[0])  # only the stored body: the tag versions stay
    answer = await client.get("/items/1", headers={"if-none-match": first.headers["etag"]})
    assert answer.status_code == 304
    assert hooks.calls["item"] == 1
    # without If-None-Match the body is computed again, under the same ETag
    again = await client.get("/items/1")
    assert again.headers["etag"] == first.headers["etag"]
    assert hooks.calls["item"] == 2


@pytest.mark.parametrize("route", ["/items/1", "/plain/1"])
async def test_a_commit_makes_the_next_request_fresh(
    client: Client, hooks: Hooks, sessions: async_sessionmaker[AsyncSession], cache: AsyncCache, route: str
) -> None:
    first = await client.get(route)
    for quantity in range(1, 6):
        async with sessions() as session:
            await ItemRepository(session=session, cache=cache).update(Item(id=1, quantity=quantity), auto_commit=True)
        # the old ETag is no longer current: a full, fresh response, never a 304
        answer = await client.get(route, headers={"if-none-match": first.headers["etag"]})
        assert answer.status_code == 200
        assert answer.json()["quantity"] == quantity
        assert answer.headers.get("etag") != first.headers["etag"]
        assert answer.headers["x-cache"] == "miss"
        # The miss after the write was stored (get(pk) reads its row tag, already known): the next is a hit.
        again = await client.get(route)
        assert (again.headers["x-cache"], again.headers["etag"]) == ("hit", answer.headers["etag"])
    assert hooks.calls[route.split("/")[1].replace("items", "item")] == 6


async def test_a_response_built_from_a_repository_hit_is_stored_again_by_the_first_miss_after_a_write(
    client: Client, hooks: Hooks, sessions: async_sessionmaker[AsyncSession], cache: AsyncCache
) -> None:
    # The regression: stored from a repository hit, the key depended on the row tag only; the populate after
    # a write read the table's other tags, unknown before the handler ran, and the miss was not stored.
    for quantity in range(1, 4):
        async with sessions() as session:
            await ItemRepository(session=session, cache=cache).get(1)  # the repository's entry: the handler hits it
        stored = await client.get("/items/1")
        assert (await client.get("/items/1")).headers["x-cache"] == "hit", stored.headers["x-cache"]
        async with sessions() as session:
            await ItemRepository(session=session, cache=cache).update(Item(id=1, quantity=quantity), auto_commit=True)
        after = await client.get("/items/1")
        assert (after.json()["quantity"], after.headers["x-cache"]) == (quantity, "miss")
        assert (await client.get("/items/1")).headers["x-cache"] == "hit"
    assert hooks.calls["item"] == 4


async def test_a_plain_session_update_invalidates(client: Client, sessions: async_sessionmaker[AsyncSession]) -> None:
    await client.get("/plain/1")
    async with sessions() as session:
        await session.execute(update(Item).where(Item.id == 1).values(quantity=42))
        await session.commit()
    assert (await client.get("/plain/1")).json()["quantity"] == 42


async def test_a_relationship_load_is_recorded(client: Client, sessions: async_sessionmaker[AsyncSession]) -> None:
    # The warm-up read item 2, which has no shelf: this key's first miss learns the shelf table.
    assert (await client.get("/shelf-of/1")).headers["x-cache"] == "miss"
    assert (await client.get("/shelf-of/1")).json() == {"id": 1, "shelf": "top"}
    assert (await client.get("/shelf-of/1")).headers["x-cache"] == "hit"
    async with sessions() as session:
        shelf = await session.get(Shelf, 1)
        assert shelf is not None
        shelf.name = "bottom"
        await session.commit()
    assert (await client.get("/shelf-of/1")).json() == {"id": 1, "shelf": "bottom"}


async def test_a_rollback_leaves_the_entry_a_hit(
    client: Client, hooks: Hooks, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await client.get("/plain/1")
    async with sessions() as session:
        await session.execute(update(Item).where(Item.id == 1).values(quantity=99))
        await session.flush()
        await session.rollback()
    answer = await client.get("/plain/1")
    assert answer.headers["x-cache"] == "hit"
    assert answer.json()["quantity"] == 0
    assert hooks.calls["plain"] == 1


async def test_manual_tags_invalidate(client: Client, hooks: Hooks, cache: AsyncCache) -> None:
    assert (await client.get("/manual")).headers["x-cache"] == "hit"  # stored by the warm-up
    await cache.bump(["manual:banner"])
    again = await client.get("/manual")
    assert again.headers["x-cache"] == "miss"
    assert hooks.calls["manual"] == 1
    assert (await client.get("/manual")).headers["x-cache"] == "hit"


async def test_cookies_private_and_errors_are_never_stored(client: Client, hooks: Hooks) -> None:
    for _ in range(2):
        greeting = await client.get("/greet")
        assert greeting.headers["x-cache"] == "bypass"
        assert "etag" not in greeting.headers
        private = await client.get("/private")
        assert private.headers["x-cache"] == "bypass"
        assert private.headers["cache-control"] == "private"
        assert (await client.get("/broken")).status_code == 500
    assert (hooks.calls["greet"], hooks.calls["private"], hooks.calls["broken"]) == (2, 2, 2)


async def test_negotiated_headers_are_part_of_the_key(client: Client, hooks: Hooks) -> None:
    english = await client.get("/negotiated", headers={"accept-language": "en"})
    french = await client.get("/negotiated", headers={"accept-language": "fr"})
    v2 = await client.get("/negotiated", headers={"accept-language": "en", "x-api-version": "2"})
    assert english.json()["language"] == "en"
    assert french.json()["language"] == "fr"
    assert v2.json() == {"language": "en", "version": "2"}
    assert (await client.get("/negotiated", headers={"accept-language": "fr"})).headers["x-cache"] == "hit"
    assert hooks.calls["negotiated"] == 3


@pytest.mark.parametrize(
    ("route", "counter"), [("/versioned", "versioned"), ("/versioned-by-dependency", "versioned-dep")]
)
async def test_a_header_parameter_the_handler_declares_is_part_of_the_key(
    client: Client, hooks: Hooks, route: str, counter: str
) -> None:
    """The handler's signature, or an app-level dependency's, declares the header (Litestar knows it); no ``vary``."""
    first = await client.get(route, headers={"x-api-version": "1"})
    second = await client.get(route, headers={"x-api-version": "2"})
    assert (first.json(), second.json()) == ({"version": "1"}, {"version": "2"}), second.headers.get("x-cache")
    assert first.headers["vary"] == "Accept, Accept-Encoding, Accept-Language, X-Api-Version"
    again = await client.get(route, headers={"x-api-version": "1"})
    assert (again.json(), again.headers["x-cache"]) == ({"version": "1"}, "hit")
    assert hooks.calls[counter] == 2


async def test_a_cookie_parameter_the_handler_declares_is_part_of_the_key(client: Client, hooks: Hooks) -> None:
    client.cookies.set("theme", "dark")
    first = await client.get("/themed")
    client.cookies.set("theme", "light")
    second = await client.get("/themed")
    assert (first.json(), second.json()) == ({"theme": "dark"}, {"theme": "light"}), second.headers.get("x-cache")
    assert first.headers["vary"] == "Accept, Accept-Encoding, Accept-Language, Cookie"
    # only the cookie the handler declares counts: another one (a session id) still shares the entry
    client.cookies.set("theme", "dark")
    client.cookies.set("sid", "another-client")
    again = await client.get("/themed")
    assert (again.json(), again.headers["x-cache"]) == ({"theme": "dark"}, "hit")
    assert hooks.calls["themed"] == 2


async def test_a_response_built_from_the_host_is_not_served_to_another_host(client: Client, hooks: Hooks) -> None:
    first = await client.get("/links", headers={"host": "acme.example.com"})
    second = await client.get("/links", headers={"host": "globex.example.com"})
    assert (first.json(), second.json()) == (
        {"self": "http://acme.example.com/links"},
        {"self": "http://globex.example.com/links"},
    ), second.headers.get("x-cache")
    assert (await client.get("/links", headers={"host": "acme.example.com"})).headers["x-cache"] == "hit"
    assert hooks.calls["links"] == 2


async def test_without_the_base_url_in_the_key_hosts_share_entries(client: Client, hooks: Hooks) -> None:
    plugin = client.app.plugins.get(ResponseCachePlugin)
    plugin.config.key_base_url = False  # read per request: the engine holds this config
    first = await client.get("/links", headers={"host": "acme.example.com"})
    second = await client.get("/links", headers={"host": "globex.example.com"})
    assert second.json() == first.json() == {"self": "http://acme.example.com/links"}
    assert second.headers["x-cache"] == "hit"
    assert hooks.calls["links"] == 1


NEGOTIATED = {"accept": "application/json", "accept-encoding": "identity"}
"""The negotiated headers of a request built by hand: the test client sends these instead of its own."""


async def _get_without_raw_path(app: Litestar, path: str) -> tuple[bytes, dict[bytes, bytes]]:
    """A GET as a server that sends no ``raw_path`` (optional in ASGI) delivers it: ``path`` percent-decoded."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(path),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver.local"), *((k.encode(), v.encode()) for k, v in NEGOTIATED.items())],
        "client": ("127.0.0.1", 1),
        "server": ("testserver.local", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return body, dict(start["headers"])


async def test_an_encoded_question_mark_in_the_path_without_raw_path_is_part_of_the_key(
    client: Client, hooks: Hooks
) -> None:
    draft = await _get_without_raw_path(client.app, "/echo/report%3Fdraft")
    final = await _get_without_raw_path(client.app, "/echo/report%3Ffinal")
    assert (draft[0], final[0]) == (b'{"path":"/report?draft","query":""}', b'{"path":"/report?final","query":""}'), (
        final[1].get(b"x-cache")
    )
    # encoded again, the path is the one a raw path holds: the test client's request (with raw_path) shares it
    with_raw_path = await client.get("/echo/report%3Fdraft", headers=NEGOTIATED)
    assert (with_raw_path.json(), with_raw_path.headers["x-cache"]) == ({"path": "/report?draft", "query": ""}, "hit")
    assert hooks.calls["echo"] == 2


async def test_anonymous_and_users_never_share(client: Client) -> None:
    anonymous = await client.get("/mine")
    alice = await client.get("/mine", headers={"x-user": "alice"})
    assert anonymous.json() == {"owner": None, "items": []}
    assert alice.json() == {"owner": "alice", "items": ["apple"]}
    assert alice.headers["cache-control"] == "private, no-cache"
    assert (await client.get("/mine")).json() == {"owner": None, "items": []}


async def test_tenant_scope_shares_within_a_tenant_only(client: Client, hooks: Hooks) -> None:
    alice = await client.get("/tenant-items", headers={"x-user": "alice"})
    carol = await client.get("/tenant-items", headers={"x-user": "carol"})
    bob = await client.get("/tenant-items", headers={"x-user": "bob"})
    assert alice.json() == carol.json() == {"tenant": "acme", "items": ["apple", "pear"]}
    assert carol.headers["x-cache"] == "hit"
    assert bob.json() == {"tenant": "globex", "items": ["plum"]}
    anonymous = await client.get("/tenant-items")
    assert anonymous.headers["x-cache"] == "bypass"  # no tenant: never cached
    assert hooks.calls["tenant"] == 3


def in_this_loop(client: Client) -> httpx.AsyncClient:
    """A client calling the (started) app on the test's own event loop, so requests really run concurrently.

    The test client runs the app on a loop in another thread, one request at a time.
    """
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app), base_url="http://testserver.local")


async def test_concurrent_misses_run_the_handler_once(client: Client, hooks: Hooks) -> None:
    concurrent = in_this_loop(client)
    requests = [asyncio.create_task(concurrent.get("/slow/1")) for _ in range(8)]
    assert await asyncio.to_thread(hooks.entered.wait, 10)
    await asyncio.sleep(0.05)  # the others arrive while the first handler is held
    hooks.release.set()
    answers = await asyncio.gather(*requests)
    assert {answer.status_code for answer in answers} == {200}
    assert hooks.calls["slow"] == 1
    assert len({answer.headers["etag"] for answer in answers}) == 1


async def test_a_snapshot_older_than_a_commit_is_not_installed_as_current(
    client: Client, hooks: Hooks, sessions: async_sessionmaker[AsyncSession], cache: AsyncCache
) -> None:
    request = asyncio.create_task(in_this_loop(client).get("/slow/1"))
    assert await asyncio.to_thread(hooks.entered.wait, 10)
    # The handler has read quantity 0; a commit lands before it responds.
    async with sessions() as session:
        await ItemRepository(session=session, cache=cache).update(Item(id=1, quantity=7), auto_commit=True)
    hooks.release.set()
    stale = await request
    assert stale.json()["quantity"] == 0  # what the handler saw: answered, but labelled with the old versions
    fresh = await client.get("/slow/1")
    assert fresh.headers["x-cache"] == "miss"
    assert fresh.json()["quantity"] == 7
    assert (await client.get("/slow/1", headers={"if-none-match": stale.headers["etag"]})).status_code == 200


@pytest.mark.parametrize("repository_entry", [False, True], ids=["repository-miss", "repository-hit"])
async def test_versions_a_cached_read_observed_label_the_response_and_a_commit_after_them_leaves_it_stale(
    client: Client, hooks: Hooks, sessions: async_sessionmaker[AsyncSession], cache: AsyncCache, repository_entry: bool
) -> None:
    # The key is new to this process: its row tag's version is read by the repository, not before the handler.
    if repository_entry:
        assert (await client.get("/items/1")).headers["x-cache"] == "miss"  # the repository's entry for item 1
    engine = client.app.plugins.get(ResponseCachePlugin).engine
    assert engine is not None
    stored = engine.telemetry.stats["stored"]
    request = asyncio.create_task(in_this_loop(client).get("/slow-repo/1"))
    assert await asyncio.to_thread(hooks.entered.wait, 10)
    async with sessions() as session:
        await ItemRepository(session=session, cache=cache).update(Item(id=1, quantity=7), auto_commit=True)
    hooks.release.set()
    stale = await request
    assert (stale.json()["quantity"], stale.headers["x-cache"]) == (0, "miss")
    assert engine.telemetry.stats["stored"] == stored + 1  # stored, labelled with the versions read before the commit
    fresh = await client.get("/slow-repo/1", headers={"if-none-match": stale.headers["etag"]})
    assert (fresh.status_code, fresh.headers["x-cache"], fresh.json()["quantity"]) == (200, "miss", 7)
    assert (await client.get("/slow-repo/1")).headers["x-cache"] == "hit"
    assert hooks.calls["slow-repo"] == 2


async def test_a_request_after_a_commit_never_shares_a_handler_run_that_began_before_it(
    client: Client, hooks: Hooks, sessions: async_sessionmaker[AsyncSession], cache: AsyncCache
) -> None:
    # A new key: its row tag is not read before the handler, so both requests read the same versions, and the
    # second would share the first's run; but the first's response is labelled with a row version it read
    # before the commit, which the second (arriving after the commit returned) must see.
    concurrent = in_this_loop(client)
    first = asyncio.create_task(concurrent.get("/slow-repo/1"))
    assert await asyncio.to_thread(hooks.entered.wait, 10)
    hooks.entered.clear()
    async with sessions() as session:
        await ItemRepository(session=session, cache=cache).update(Item(id=1, quantity=7), auto_commit=True)
    engine = client.app.plugins.get(ResponseCachePlugin).engine
    assert engine is not None
    misses = engine.telemetry.stats["miss"]
    second = asyncio.create_task(concurrent.get("/slow-repo/1"))
    for _ in range(1000):  # until the second request counted its miss: it then joins the first's run at once
        if engine.telemetry.stats["miss"] > misses:
            break
        await asyncio.sleep(0.01)
    assert engine.telemetry.stats["miss"] == misses + 1
    hooks.release.set()
    assert (await first).json()["quantity"] == 0
    assert (await second).json()["quantity"] == 7
    assert hooks.calls["slow-repo"] == 2


async def test_guards_run_before_a_hit_is_served(client: Client, hooks: Hooks) -> None:
    allowed = {"x-allowed": "yes"}
    for _ in range(3):
        assert (await client.get("/guarded", headers=allowed)).status_code == 200
    assert (await client.get("/guarded", headers=allowed)).headers["x-cache"] == "hit"
    refused = await client.get("/guarded")
    assert refused.status_code == 403
    assert "secret" not in refused.text
    refused_conditional = await client.get("/guarded", headers={"if-none-match": "*"})
    assert refused_conditional.status_code == 403  # not even a 304 tells a refused caller something is cached


async def test_a_writing_handler_is_never_stored(client: Client, hooks: Hooks) -> None:
    # Its response reads nothing, but serving it from the cache would skip the handler's side effect.
    for _ in range(3):
        answer = await client.get("/touch/1")
        assert answer.json() == {"touched": 1}
        assert answer.headers["x-cache"] == "bypass"
    assert hooks.calls["touch"] == 3
    assert (await client.get("/plain/1")).status_code == 200  # the write was never committed
