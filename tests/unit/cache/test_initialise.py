"""A read's absent versions: initialised in one store call where the store sets them only if absent, else one at a time.

Either way every concurrent first reader in this process labels its load with the one version the store holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore

from litestar_alchemy_kit.cache import MISS, AsyncCache, AsyncMemoryBackend, StoreBackend


class _Counting(AsyncMemoryBackend):
    """Records the keys of each ``init_many`` call; a read answers after a task switch, as over a network."""

    def __init__(self) -> None:
        super().__init__()
        self.inits: list[list[str]] = []

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values = await super().get_many(keys)
        await asyncio.sleep(0)  # every concurrent reader finds the versions absent
        return values

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        self.inits.append(list(items))
        return await super().init_many(items)


class _GetThenSet(_Counting):
    """A store with no set-if-absent: each key read, then (after a task switch) set, as a Litestar store's API does."""

    atomic_init = False

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        self.inits.append(list(items))
        out: list[bytes] = []
        for key, value in items.items():
            current = (await self.get_many([key]))[0]
            await asyncio.sleep(0)  # another reader's get runs here
            if current is None:
                await self.set(key, value, None)
                current = value
            out.append(current)
        return out


async def test_an_atomic_store_initialises_every_absent_version_of_a_read_in_one_call() -> None:
    backend = _Counting()
    cache = AsyncCache(backend, namespace="init")
    assert await cache.versions(["t:a"]) is not None  # the namespace version and t:a
    backend.inits.clear()
    value, versions = await cache.read(cache.key("row", "k"), ["t:a", "t:b", "t:c"], row_tag="t:a:row=1")
    assert value is MISS
    assert versions is not None
    assert len(backend.inits) == 1
    assert sorted(backend.inits[0]) == sorted(cache.tag_key(tag) for tag in ("t:b", "t:c", "t:a:row=1"))
    assert versions == await cache.versions(["t:a", "t:b", "t:c", "t:a:row=1"]), "never a token the store lacks"
    assert len(backend.inits) == 1  # all present now: versions() initialised nothing


async def test_a_store_without_set_if_absent_initialises_one_version_at_a_time() -> None:
    backend = _GetThenSet()
    cache = AsyncCache(backend, namespace="init")
    assert await cache.versions(["t:a"]) is not None
    backend.inits.clear()
    _, versions = await cache.read(cache.key("row", "k"), ["t:a", "t:b"], row_tag="t:a:row=1")
    assert versions is not None
    assert sorted(backend.inits) == sorted([[cache.tag_key("t:b")], [cache.tag_key("t:a:row=1")]])
    assert versions == await cache.versions(["t:a", "t:b", "t:a:row=1"])


@pytest.mark.parametrize("backend_type", [_Counting, _GetThenSet], ids=["set-if-absent", "get-then-set"])
async def test_concurrent_first_readers_in_one_process_agree_on_the_version(backend_type: type[_Counting]) -> None:
    cache = AsyncCache(backend_type(), namespace="init")
    key = cache.key("row", "k")
    found = await asyncio.gather(*(cache.read(key, ["t:x", "t:y"], row_tag="t:x:row=7") for _ in range(8)))
    labels = [versions for _, versions in found]
    assert all(versions is not None for versions in labels)
    assert all(versions == labels[0] for versions in labels)
    assert labels[0] == await cache.versions(["t:x", "t:y", "t:x:row=7"])
    assert await cache.set(key, "body", labels[0])
    assert await cache.get(key, ["t:x", "t:y"], row_tag="t:x:row=7") == "body"


async def test_which_stores_initialise_in_one_call(tmp_path: object) -> None:
    """Litestar's MemoryStore (read straight through its dict) sets if absent; any other Litestar store does not."""
    memory = AsyncCache(MemoryStore(), namespace="init")
    assert memory._store._flight is None
    files = AsyncCache(FileStore(path=f"{tmp_path}/store"), namespace="init")
    assert isinstance(files._backend, StoreBackend)
    assert files._store._flight is not None
    _, versions = await files.read(files.key("row", "k"), ["t:a", "t:b"])
    assert versions == await files.versions(["t:a", "t:b"])
