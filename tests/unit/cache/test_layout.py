"""The cluster key layout: hash slots as Redis computes them, slot groups, co-location and placement."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from litestar_alchemy_kit.cache import AsyncClusterBackend, ClusterLayout, SyncClusterBackend
from litestar_alchemy_kit.cache.keys import KeyBuilder
from litestar_alchemy_kit.cache.layout import SLOTS, key_slot


def test_key_slot_matches_redis() -> None:
    # Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    assert key_slot(b"foo") == 12182
    assert key_slot(b"123456789") == 12739
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == key_slot(b"foo{}{bar}")  # an empty tag hashes the whole key
    assert key_slot(b"foo{}{bar}") != key_slot(b"bar")
    assert key_slot(b"foo{{bar}}zap") == key_slot(b"{bar")


def test_groups_take_evenly_spaced_slots() -> None:
    layout = ClusterLayout(64)
    slots = [key_slot(tag.encode()) for tag in layout.hash_tags]
    assert [slot * 64 // SLOTS for slot in slots] == list(range(64))
    assert len(set(layout.hash_tags)) == 64
    assert ClusterLayout(64).hash_tags == layout.hash_tags  # deterministic: every process agrees


def test_a_table_and_its_fine_tags_share_a_group() -> None:
    layout = ClusterLayout()
    assert layout.family("t:users:row=7") == layout.family("t:users:any") == layout.family("t:users") == "t:users"
    assert layout.family("plain") == "plain"
    assert layout.group("t:users:row=7") == layout.group("t:users:part=3") == layout.group("t:users")
    groups = {layout.group(f"t:table{index}") for index in range(200)}
    assert len(groups) > 48  # tables spread over the groups


def test_the_anchor_ignores_order() -> None:
    layout = ClusterLayout()
    tags = ["t:a", "t:b", "t:c", "t:a:any"]
    assert layout.anchor(tags) == layout.anchor(list(reversed(tags))) == min(layout.group(t) for t in tags)
    assert layout.anchor([]) == 0


@pytest.mark.parametrize("groups", [0, -1, 1025])
def test_bad_group_counts_are_refused(groups: int) -> None:
    with pytest.raises(ValueError, match="groups must be between 1 and 1024"):
        ClusterLayout(groups)


def test_an_entry_sits_in_the_slot_of_the_versions_it_is_validated_against() -> None:
    keys = KeyBuilder("ns", ClusterLayout())
    names, version_keys = keys.plan(("t:users", "t:users:row=7"))
    assert names == ["t:users", "t:users:row=7"]
    entry = keys.place(keys.entry("get", "fp"), version_keys)
    slots = {key_slot(f"LITESTAR:{key}".encode()) for key in [entry, *version_keys]}
    assert len(slots) == 1  # one MGET, one node
    assert entry in keys.placements(keys.entry("get", "fp"))
    assert len(keys.namespace_keys) == 64
    # without a layout nothing moves
    plain = KeyBuilder("ns")
    plain_keys = plain.plan(("t:users",))[1]
    assert plain.place("ns:e:get:x", plain_keys) == "ns:e:get:x"
    assert plain.namespace_keys == ("ns:n",)
    assert plain.placements("ns:e:get:x") == ["ns:e:get:x"]


@pytest.mark.parametrize("backend", [AsyncClusterBackend, SyncClusterBackend])
def test_bad_backend_settings_are_refused(backend: type) -> None:
    from redis.cluster import RedisCluster

    client = RedisCluster.__new__(RedisCluster)  # never connects: the check comes first
    with pytest.raises(ValueError, match="replicas >= 0 and wait_timeout > 0"):
        backend(client, replicas=-1)
    with pytest.raises(ValueError, match="replicas >= 0 and wait_timeout > 0"):
        backend(client, wait_timeout=0)


def _tls_client(package: str) -> object:
    if package == "redis":
        from redis.asyncio import RedisCluster

        return RedisCluster(host="127.0.0.1", port=1, ssl=True)  # never connects: built, not initialised
    from valkey.asyncio import ValkeyCluster

    return ValkeyCluster(host="127.0.0.1", port=1, ssl=True)


def _provider_client(package: str) -> object:
    if package == "redis":
        from redis import UsernamePasswordCredentialProvider
        from redis.asyncio import RedisCluster

        return RedisCluster(host="127.0.0.1", port=1, credential_provider=UsernamePasswordCredentialProvider("u", "p"))
    from valkey import UsernamePasswordCredentialProvider as ValkeyProvider
    from valkey.asyncio import ValkeyCluster

    return ValkeyCluster(host="127.0.0.1", port=1, credential_provider=ValkeyProvider("u", "p"))


@pytest.mark.parametrize("package", ["redis", "valkey"])
@pytest.mark.parametrize("make", [_tls_client, _provider_client], ids=["tls", "credential_provider"])
def test_cluster_clients_the_cache_cannot_imitate_are_refused(package: str, make: Callable[[str], object]) -> None:
    """The cache's own node connections are plain TCP: TLS and credential providers are refused when the cache is
    built, for the async cache and for the sync twin derived from the app's store (documented limits)."""
    from litestar.stores.redis import RedisStore
    from litestar.stores.valkey import ValkeyStore

    from litestar_alchemy_kit.cache import AsyncCache, SyncCache

    client = make(package)
    store = RedisStore(client, namespace="app") if package == "redis" else ValkeyStore(client, namespace="app")  # type: ignore[arg-type]
    for build in (AsyncCache, SyncCache):
        with pytest.raises(
            TypeError, match=r"supports plain TCP nodes \(with a password\), not TLS or credential providers"
        ):
            build(store)
