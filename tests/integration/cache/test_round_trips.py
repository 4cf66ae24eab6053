"""Round trips per hit and per bump on Redis and Valkey, counted by the server (INFO commandstats).

Each test runs its own server, so no other client's commands are counted.
"""

from __future__ import annotations

from typing import Any

from litestar.stores.redis import RedisStore
from litestar.stores.valkey import ValkeyStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, CacheOptions, SyncCache
from tests.integration.cache._servers import OwnServer


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    changed = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    for name in ("info", "hello", "client|setinfo", "select"):  # the measuring connection itself
        changed.pop(name, None)
    return changed


def _async_client(server: OwnServer) -> Any:
    if server.kind == "valkey":
        from valkey.asyncio import Valkey

        return Valkey.from_url(server.url)
    from redis.asyncio import Redis

    return Redis.from_url(server.url)


async def test_hit_and_bump_are_one_command_each(own_server: OwnServer) -> None:
    client = _async_client(own_server)
    store = ValkeyStore(client, namespace="rt") if own_server.kind == "valkey" else RedisStore(client, namespace="rt")
    cache = AsyncCache(store, namespace="rt")
    tags = ["users", "teams", "orders"]
    key = cache.key("row", "q")
    await cache.set(key, {"id": 1}, await cache.versions(tags))
    assert await cache.get(key, tags) == {"id": 1}  # warm: connection open

    before = own_server.command_calls()
    for _ in range(10):
        assert await cache.get(key, tags) == {"id": 1}
    assert _delta(before, own_server.command_calls()) == {"mget": 10}

    assert await cache.bump(tags, marker=await cache.mark(tags))  # loads both scripts into the server
    before = own_server.command_calls()
    assert await cache.bump(tags)
    # Under a commit policy a bump settles markers: one script, whose GET and SET per tag run in the server.
    assert _delta(before, own_server.command_calls()) == {"evalsha": 1, "get": 3, "set": 3}
    unguarded = AsyncCache(store, namespace="rt", options=CacheOptions(commit_policy=None))
    before = own_server.command_calls()
    assert await unguarded.bump(tags)
    assert _delta(before, own_server.command_calls()) == {"mset": 1}

    before = own_server.command_calls()
    marker = await cache.mark(tags)
    assert marker is not None
    assert _delta(before, own_server.command_calls()) == {"evalsha": 1, "get": 3, "set": 3}
    assert await cache.bump(tags, marker=marker)
    assert await cache.get(key, tags) is not None  # a miss now

    before = own_server.command_calls()
    await cache.versions(tags)
    assert _delta(before, own_server.command_calls()) == {"mget": 1}

    before = own_server.command_calls()
    calls = 0

    async def loader() -> int:
        nonlocal calls
        calls += 1
        return 2

    assert await cache.get_or_load(key, tags, loader) == 2  # miss: read + write, versions reused
    assert _delta(before, own_server.command_calls()) == {"mget": 1, "set": 1}
    await client.aclose()


def test_sync_hit_and_bump_are_one_command_each(own_server: OwnServer) -> None:
    if own_server.kind == "valkey":
        import valkey

        client: Any = valkey.Valkey.from_url(own_server.url)
    else:
        import redis

        client = redis.Redis.from_url(own_server.url)
    cache = SyncCache(client, namespace="rt")
    key = cache.key("row", "q")
    cache.set(key, [1], cache.versions(["a", "b"]))
    assert cache.get(key, ["a", "b"]) == [1]
    before = own_server.command_calls()
    assert cache.get(key, ["a", "b"]) == [1]
    assert cache.bump(["a", "b"])
    assert _delta(before, own_server.command_calls()) == {"mget": 1, "eval": 1, "get": 2, "set": 2}
    client.close()


async def test_a_miss_on_tags_never_written_initialises_them_in_one_more_round_trip(own_server: OwnServer) -> None:
    """A first read of tags nobody bumped yet (a row never written): the lookup, then one script that sets the
    absent versions and reads them back; the load is labelled with them, with no second read."""
    client = _async_client(own_server)
    store = ValkeyStore(client, namespace="rti") if own_server.kind == "valkey" else RedisStore(client, namespace="rti")
    cache = AsyncCache(store, namespace="rti")
    assert await cache.versions(["warm"]) is not None  # connection open, init script loaded
    await cache.bump(["shared"])
    key = cache.key("row", "fresh")

    before = own_server.command_calls()
    value, versions = await cache.read(key, ["shared"], row_tag="row=1")
    assert value is MISS
    assert versions is not None
    # the lookup's MGET, then the script: SET NX and GET of the one absent version, run in the server
    assert _delta(before, own_server.command_calls()) == {"mget": 1, "evalsha": 1, "set": 1, "get": 1}
    assert versions == await cache.versions(["shared", "row=1"])

    before = own_server.command_calls()

    async def loader() -> int:
        return 3

    assert await cache.get_or_load(cache.key("row", "other"), ["shared", "row=2"], loader) == 3
    assert _delta(before, own_server.command_calls()) == {"mget": 1, "evalsha": 1, "set": 2, "get": 1}
    assert await cache.get(cache.key("row", "other"), ["shared", "row=2"]) == 3

    # several absent versions (a new partition's tag and a row's): still one script for all of them
    before = own_server.command_calls()
    value, versions = await cache.read(cache.key("row", "third"), ["shared", "part=9"], row_tag="row=3")
    assert value is MISS
    assert _delta(before, own_server.command_calls()) == {"mget": 1, "evalsha": 1, "set": 2, "get": 2}
    assert versions == await cache.versions(["shared", "part=9", "row=3"])
    await client.aclose()
