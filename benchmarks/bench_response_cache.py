"""Response caching: the kit's scoped, invalidated cache vs Litestar's built-in (unscoped) cache vs no response cache.

Part 1 drives the ASGI apps directly (no server, no network): µs per request, medians of
interleaved batches, for the same authenticated ``GET /products/{id}``:

- ``kit hit``: our cache, scoped to the caller, invalidated by commits;
- ``kit 304``: the same with a matching ``If-None-Match``;
- ``litestar hit``: Litestar 2.25's response cache (keyed on method, path and query alone);
- ``uncached``: no response cache, the handler reading through the kit's cached repository (a
  repository cache hit, the row rebuilt and serialised on every request).

Part 2 measures requests per second over HTTP: each app under uvicorn (one worker, pinned to CPU 0)
and ``wrk`` (one thread, 32 connections, pinned to CPU 1), rounds interleaved. It is skipped when
``wrk`` or ``taskset`` is missing (``apt-get install -y wrk``).

Run: ``python benchmarks/bench_response_cache.py`` (``BENCH_ROUNDS``, ``BENCH_HTTP_ROUNDS``,
``BENCH_HTTP_SECONDS`` tune it). Report the machine's load average with the numbers.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _models import BenchBase, Product
from _report import record
from _response_cache_app import make_app
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
BATCH = int(os.environ.get("BENCH_BATCH", "1000"))
HTTP_ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "3"))
HTTP_SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "5"))
HERE = Path(__file__).resolve().parent


async def _seed(db_url: str) -> uuid.UUID:
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(BenchBase.metadata.create_all)
    product = Product(
        name="product 1",
        sku="SKU-00001",
        description="a fairly ordinary product description number 1",
        quantity=1,
        price=decimal.Decimal("1.99"),
        weight=0.25,
        active=True,
        category="cat-1",
        created=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        session.add(product)
        await session.commit()
    await engine.dispose()
    return product.id


class Driver:
    """Calls an ASGI app in process: lifespan, then one GET at a time, checking the answer."""

    def __init__(self, app: Any, path: str, headers: dict[str, str]) -> None:
        self.app = app
        self.template = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        self.status = 0
        self.response_headers: dict[bytes, bytes] = {}

    async def _receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_headers = dict(message["headers"])

    async def get(self) -> None:
        await self.app(dict(self.template), self._receive, self._send)

    async def start(self) -> None:
        self._lifespan_in: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await self._lifespan_in.put({"type": "lifespan.startup"})
        self._task = asyncio.create_task(
            self.app(
                {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                self._lifespan_in.get,
                self._lifespan_out.put,
            )
        )
        message = await self._lifespan_out.get()
        assert message["type"] == "lifespan.startup.complete", message

    async def stop(self) -> None:
        await self._lifespan_in.put({"type": "lifespan.shutdown"})
        await self._lifespan_out.get()
        await self._task


async def _asgi(db_url: str, product_id: uuid.UUID) -> list[list[Any]]:
    path = f"/products/{product_id}"
    user = {"X-User": "alice"}
    drivers = {
        "kit hit": Driver(make_app("kit", db_url), path, user),
        "litestar hit": Driver(make_app("litestar", db_url), path, user),
        "uncached": Driver(make_app("uncached", db_url), path, user),
    }
    for driver in drivers.values():
        await driver.start()
        for _ in range(3):  # learn the route's tables, store, hit
            await driver.get()
        assert driver.status == 200, driver.status
    etag = drivers["kit hit"].response_headers[b"etag"].decode()
    assert drivers["kit hit"].response_headers[b"x-cache"] == b"hit"
    drivers["kit 304"] = Driver(drivers["kit hit"].app, path, {**user, "If-None-Match": etag})
    await drivers["kit 304"].get()
    assert drivers["kit 304"].status == 304
    samples: dict[str, list[float]] = {name: [] for name in drivers}
    for _ in range(ROUNDS):
        for name, driver in drivers.items():
            get = driver.get
            started = time.perf_counter()
            for _ in range(BATCH):
                await get()
            samples[name].append((time.perf_counter() - started) / BATCH * 1e6)
    assert drivers["kit hit"].response_headers[b"x-cache"] == b"hit"
    assert drivers["kit 304"].status == 304
    for name, driver in drivers.items():
        if name != "kit 304":
            await driver.stop()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        "kit hit": ("litestar hit", medians["kit hit"] / medians["litestar hit"]),
        "kit 304": ("kit hit", medians["kit 304"] / medians["kit hit"]),
        "litestar hit": ("uncached", medians["litestar hit"] / medians["uncached"]),
        "uncached": ("uncached", 1.0),
    }
    rows = [
        [
            name,
            round(medians[name], 1),
            f"{ratios[name][1]:.2f}x {ratios[name][0]}",
            f"{medians[name] / medians['uncached']:.2f}x",
        ]
        for name in ("kit hit", "kit 304", "litestar hit", "uncached")
    ]
    for row in rows:
        print(*row, sep="\t")
    return rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(variant: str, db_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, "LAK_BENCH_VARIANT": variant, "LAK_BENCH_DB": db_url, "PYTHONPATH": str(HERE)}
    command = ["taskset", "-c", "0", sys.executable, "-m", "uvicorn", "_response_cache_app:app", "--port", str(port)]
    command += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, cwd=HERE, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        except httpx.HTTPError:  # noqa: PERF203 - polling until the server listens
            time.sleep(0.2)
        else:
            return server, port
    server.kill()
    msg = f"uvicorn did not start for {variant}"
    raise RuntimeError(msg)


def _wrk(port: int, path: str) -> float:
    command = ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{HTTP_SECONDS}s", "-H", "X-User: alice"]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None or "Non-2xx" in output:
        msg = f"wrk failed: {output}"
        raise RuntimeError(msg)
    return float(match.group(1))


def _http(db_url: str, product_id: uuid.UUID) -> list[list[Any]]:
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        print("http part skipped: wrk or taskset missing (apt-get install -y wrk)")
        return []
    path = f"/products/{product_id}"
    servers = {variant: _serve(variant, db_url) for variant in ("kit", "litestar", "uncached")}
    try:
        for _, port in servers.values():
            for _ in range(3):
                httpx.get(f"http://127.0.0.1:{port}{path}", headers={"X-User": "alice"}).raise_for_status()
        answer = httpx.get(f"http://127.0.0.1:{servers['kit'][1]}{path}", headers={"X-User": "alice"})
        assert answer.headers["x-cache"] == "hit", answer.headers
        samples: dict[str, list[float]] = {variant: [] for variant in servers}
        for _ in range(HTTP_ROUNDS):
            for variant, (_, port) in servers.items():
                samples[variant].append(_wrk(port, path))
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)
    medians = {variant: statistics.median(values) for variant, values in samples.items()}
    rows = [
        [variant, round(medians[variant]), f"{medians[variant] / medians['litestar']:.2f}x litestar"]
        for variant in ("kit", "litestar", "uncached")
    ]
    for row in rows:
        print(*row, sep="\t")
    return rows


def main() -> None:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        product_id = asyncio.run(_seed(db_url))
        asgi = asyncio.run(_asgi(db_url, product_id))
        http = _http(db_url, product_id)
    note = f"Load average at the start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (2 cores)."
    record(
        "response_cache",
        f"Response cache, ASGI app driven directly: µs per request (median of {ROUNDS} interleaved batches of {BATCH})",
        ["variant", "µs/request", "ratio", "vs uncached"],
        asgi,
        plot="µs/request",
        note=note,
    )
    if http:
        record(
            "response_cache_http",
            f"Response cache over HTTP: requests/second (uvicorn 1 worker on CPU 0, wrk -c32 on CPU 1, median of {HTTP_ROUNDS} interleaved {HTTP_SECONDS} s runs)",
            ["variant", "req/s", "ratio"],
            http,
            plot="req/s",
            note=note,
        )


if __name__ == "__main__":
    main()
