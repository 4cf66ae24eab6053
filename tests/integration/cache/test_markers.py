"""Invalidation markers (phase one of a commit's invalidation) on every kind of backend.

Redis and Valkey run the atomic scripts; the in-process memory backend and a Litestar ``FileStore`` (shared by
processes, no scripts) run the read-modify-write form. The rules are the same:

- a marked tag neither hits nor labels a new entry, in any cache sharing the store;
- settling removes only the settling commit's marker: a tag marked by another commit in flight stays marked;
- a marker nobody settles expires after ``marker_ttl``, and the tag gets a fresh version.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.stores.file import FileStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, AsyncMemoryBackend, CacheOptions, PipelinedRedisBackend
from litestar_alchemy_kit.cache.markers import marked, settled
from tests.integration.cache._servers import OwnServer

OPTIONS = CacheOptions(marker_ttl=0.3)


@pytest.fixture(params=["memory", "file", "redis", "valkey"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[AsyncCache, AsyncCache]]:
    """Two caches on one store: this process's and another's."""
    closers: list[Callable[[], Any]] = []
    clients: list[Any] = []
    if request.param == "memory":
        shared = AsyncMemoryBackend()
        caches = (AsyncCache(shared, "mk", OPTIONS), AsyncCache(shared, "mk", OPTIONS))
    elif request.param == "file":
        caches = (
            AsyncCache(FileStore(tmp_path / "store"), "mk", OPTIONS),
            AsyncCache(FileStore(tmp_path / "store"), "mk", OPTIONS),
        )
    else:
        server = OwnServer(request.param).start()
        closers.append(server.stop)
        from redis.asyncio import Redis

        clients = [Redis.from_url(server.url), Redis.from_url(server.url)]  # the caller's clients: it closes them
        caches = (
            AsyncCache(PipelinedRedisBackend(clients[0]), "mk", OPTIONS),
            AsyncCache(PipelinedRedisBackend(clients[1]), "mk", OPTIONS),
        )
    yield caches
    for cache in caches:
        await cache.close()
    for client in clients:
        await client.aclose()
    for close in closers:
        close()


async def _entry(cache: AsyncCache, tags: list[str], value: str) -> str:
    key = cache.key("row", value)
    assert await cache.set(key, value, await cache.versions(tags))
    assert await cache.get(key, tags) == value
    return key


async def test_a_marked_tag_neither_hits_nor_populates_anywhere(pair: tuple[AsyncCache, AsyncCache]) -> None:
    writer, reader = pair
    key = await _entry(reader, ["t", "u"], "before")
    marker = await writer.mark(["t"])
    assert marker is not None
    assert await reader.get(key, ["t", "u"]) is MISS
    assert await reader.versions(["t", "u"]) is None
    assert reader.bypass_reasons["invalidation_marked"] == 1
    assert (await reader.lookup(key, ["t", "u"])).versions is None
    assert await reader.get_or_load(key, ["t", "u"], _const("during")) == "during"
    assert await reader.get(key, ["t", "u"]) is MISS, "a load under a marker must not be cached"
    assert await reader.versions(["u"]) is not None, "an unmarked tag is untouched"

    assert await writer.bump(["t"], marker=marker)
    assert await reader.get(key, ["t", "u"]) is MISS, "the entry from before the commit stays invalid"
    assert await reader.get_or_load(key, ["t", "u"], _const("after")) == "after"
    assert await reader.get(key, ["t", "u"]) == "after"


async def test_settling_keeps_the_marker_of_another_commit_in_flight(pair: tuple[AsyncCache, AsyncCache]) -> None:
    first, second = pair
    first_marker = await first.mark(["t"])
    second_marker = await second.mark(["t"])
    assert first_marker is not None
    assert second_marker is not None
    assert await second.bump(["t"], marker=second_marker)  # the second commit is done, the first is not
    assert await second.versions(["t"]) is None, "the first commit is still in flight: no populate"
    assert await first.bump(["t"], marker=first_marker)
    assert await second.versions(["t"]) is not None


async def test_a_plain_bump_does_not_lift_a_marker(pair: tuple[AsyncCache, AsyncCache]) -> None:
    writer, other = pair
    assert await writer.mark(["t"]) is not None
    assert await other.bump(["t"])
    assert await other.versions(["t"]) is None


async def test_an_unsettled_marker_expires_into_a_fresh_version(pair: tuple[AsyncCache, AsyncCache]) -> None:
    writer, reader = pair
    key = await _entry(reader, ["t"], "before")
    assert await writer.mark(["t"]) is not None  # the writer dies here
    assert await reader.versions(["t"]) is None
    await asyncio.sleep(OPTIONS.marker_ttl + 1.1)  # FileStore keeps whole seconds
    versions = await reader.versions(["t"])
    assert versions is not None
    assert await reader.get(key, ["t"]) is MISS, "the old entry never comes back"
    assert await reader.set(key, "after", versions)
    assert await reader.get(key, ["t"]) == "after"


async def test_a_namespace_marker_holds_every_tag(pair: tuple[AsyncCache, AsyncCache]) -> None:
    writer, reader = pair
    key = await _entry(reader, ["t"], "before")
    marker = await writer.mark([], namespace=True)
    assert marker is not None
    assert await reader.get(key, ["t"]) is MISS
    assert await reader.versions(["t"]) is None
    assert await writer.clear(marker=marker)
    assert await reader.versions(["t"]) is not None


def _const(value: str) -> Callable[[], Any]:
    async def load() -> str:
        return value

    return load


def test_marker_values() -> None:
    assert marked(None, "a") == b"!a"
    assert marked(b"0123abcd", "a") == b"!a"
    assert marked(b"!a", "b") == b"!a,b"
    assert settled(b"!a,b", ["a"], b"tok") == (b"!b", True)
    assert settled(b"!a,b", ["a", "b"], b"tok") == (b"tok", False)
    assert settled(b"!b", ["a"], b"tok") == (b"!b", True)
    assert settled(b"0123abcd", ["a"], b"tok") == (b"tok", False)
    assert settled(None, [], b"tok") == (b"tok", False)
