"""Response caching: the kit's scoped, invalidated cache vs Litestar's built-in (unscoped) cache vs no response cache.

Part 1 drives the ASGI apps directly (no server, no network): µs per request, medians of
interleaved batches (order rotated per round, garbage collected between batches), for the same
authenticated ``GET /products/{id}``:

- ``kit hit``: our cache, scoped to the caller, invalidated by commits;
- ``kit 304``: the same with a matching ``If-None-Match``;
- ``litestar hit``: Litestar 2.25's response cache (keyed on method, path and query alone);
- ``uncached``: no response cache, the handler reading through the kit's cached repository (a
  repository cache hit, the row rebuilt and serialised on every request).

Part 2 measures requests per second over HTTP: each app under uvicorn (one worker, pinned to CPU 0)
and ``wrk`` (one thread, 32 connections, pinned to CPU 1), the kit also answering 304s
(``If-None-Match`` with a current ETag). Every server is started once and warmed; then rounds
run each variant once, in an order rotated from round to round (a burst of load from
elsewhere hits every variant alike), and the ratio against Litestar is taken per round (paired,
runs seconds apart) before its median: on a shared machine paired ratios drift far less than
absolute rates. Besides wall-clock requests per second, each run reports requests per second of
CPU time the server process used (``/proc/<pid>/stat``): what the server would serve on a core of
its own, which load from other processes hardly moves. Medians are reported with the spread
(min-max) of the rounds. It is skipped when ``wrk`` or ``taskset`` is missing (``apt-get install -y wrk``).

Run: ``python benchmarks/bench_response_cache.py`` (``BENCH_ROUNDS``, ``BENCH_HTTP_ROUNDS``,
``BENCH_HTTP_SECONDS`` tune it). Load averages at the start and around the HTTP part are reported.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
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
from _models import seed_product
from _report import record
from _response_cache_app import make_app

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
BATCH = int(os.environ.get("BENCH_BATCH", "1000"))
HTTP_ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "9"))
HTTP_SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "4"))
HERE = Path(__file__).resolve().parent


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
        for _ in range(3):  # miss (stored), hit, hit
            await driver.get()
        assert driver.status == 200, driver.status
    etag = drivers["kit hit"].response_headers[b"etag"].decode()
    assert drivers["kit hit"].response_headers[b"x-cache"] == b"hit"
    drivers["kit 304"] = Driver(drivers["kit hit"].app, path, {**user, "If-None-Match": etag})
    await drivers["kit 304"].get()
    assert drivers["kit 304"].status == 304
    samples: dict[str, list[float]] = {name: [] for name in drivers}
    order = list(drivers.items())
    for round_ in range(ROUNDS):
        shift = round_ % len(order)
        for name, driver in order[shift:] + order[:shift]:
            get = driver.get
            # The garbage of the batch before (the uncached handler's ORM objects) is not this batch's to collect.
            gc.collect()
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
    anchors = {"kit hit": "litestar hit", "kit 304": "kit hit", "litestar hit": "uncached", "uncached": "uncached"}
    rows = []
    for name in ("kit hit", "kit 304", "litestar hit", "uncached"):
        anchor = anchors[name]
        paired = [mine / theirs for mine, theirs in zip(samples[name], samples[anchor], strict=True)]
        rows.append(
            [
                name,
                round(medians[name], 1),
                f"{min(samples[name]):.1f}-{max(samples[name]):.1f}",
                f"{statistics.median(paired):.2f}x {anchor} ({min(paired):.2f}-{max(paired):.2f})",
                f"{medians[name] / medians['uncached']:.2f}x",
            ]
        )
    for row in rows:
        print(*row, sep="\t")
    return rows


def _spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


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


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, path: str, seconds: int = HTTP_SECONDS, headers: tuple[str, ...] = ()) -> tuple[float, int]:
    """Requests per second and the number of requests of one ``wrk`` run."""
    command = ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "-H", "X-User: alice"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if match is None or total is None or "Non-2xx" in output:
        msg = f"wrk failed: {output}"
        raise RuntimeError(msg)
    return float(match.group(1)), int(total.group(1))


def _paired(samples: dict[str, list[float]], variant: str) -> str:
    ratios = [mine / theirs for mine, theirs in zip(samples[variant], samples["litestar"], strict=True)]
    return f"{statistics.median(ratios):.2f}x ({_spread(ratios, 2)})"


def _http(db_url: str, product_id: uuid.UUID) -> list[list[Any]]:
    if shutil.which("wrk") is None or shutil.which("taskset") is None or not Path("/proc/self/stat").exists():
        print("http part skipped: wrk, taskset or /proc missing (apt-get install -y wrk)")
        return []
    path = f"/products/{product_id}"
    variants = ("kit", "litestar", "uncached")
    servers = {variant: _serve(variant, db_url) for variant in variants}
    try:
        for _, port in servers.values():
            for _ in range(3):
                httpx.get(f"http://127.0.0.1:{port}{path}", headers={"X-User": "alice"}).raise_for_status()
            _wrk(port, path, seconds=1)  # warm: connections, allocator, the handler's first calls
        answer = httpx.get(f"http://127.0.0.1:{servers['kit'][1]}{path}", headers={"X-User": "alice"})
        assert answer.headers["x-cache"] == "hit", answer.headers
        conditional = {"X-User": "alice", "If-None-Match": answer.headers["etag"]}
        assert httpx.get(f"http://127.0.0.1:{servers['kit'][1]}{path}", headers=conditional).status_code == 304
        # (row, server, extra request headers): the 304 row asks the kit's server with a current ETag
        runs = [("kit", "kit", ()), ("kit 304", "kit", (f"If-None-Match: {answer.headers['etag']}",))]
        runs += [(variant, variant, ()) for variant in variants[1:]]
        rates: dict[str, list[float]] = {row: [] for row, _, _ in runs}
        per_cpu: dict[str, list[float]] = {row: [] for row, _, _ in runs}
        for round_ in range(HTTP_ROUNDS):
            shift = round_ % len(runs)
            for row, variant, headers in runs[shift:] + runs[:shift]:
                server, port = servers[variant]
                cpu = _cpu_seconds(server.pid)
                rate, requests = _wrk(port, path, headers=headers)
                rates[row].append(rate)
                per_cpu[row].append(requests / max(_cpu_seconds(server.pid) - cpu, 1e-3))
            print(
                f"round {round_ + 1}: "
                + ", ".join(f"{r} {rates[r][-1]:.0f} req/s, {per_cpu[r][-1]:.0f} per CPU s" for r, _, _ in runs),
                flush=True,
            )
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)
    rows = [
        [
            variant,
            round(statistics.median(rates[variant])),
            _spread(rates[variant]),
            _paired(rates, variant),
            round(statistics.median(per_cpu[variant])),
            _spread(per_cpu[variant]),
            _paired(per_cpu, variant),
        ]
        for variant, _, _ in runs
    ]
    for row in rows:
        print(*row, sep="\t")
    return rows


def _uvicorn_stack() -> str:
    """The HTTP parser and event loop uvicorn picks (``auto``: httptools and uvloop when installed)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http}, {loop}"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def main() -> None:
    start = _load()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        product_id = asyncio.run(seed_product(db_url))
        asgi = asyncio.run(_asgi(db_url, product_id))
        before_http = _load()
        http = _http(db_url, product_id)
        after_http = _load()
    note = (
        f"Median of {ROUNDS} interleaved batches of {BATCH} requests (order rotated per round); spread: min-max of "
        "the batches; ratio: median of the per-round ratios, with their min-max. "
        f"Load average (1, 5, 15 min; 2 cores) at the start: {start}."
    )
    print(note)
    record(
        "response_cache",
        "Response cache, ASGI app driven directly: µs per request",
        ["variant", "µs/request", "spread", "ratio", "vs uncached"],
        asgi,
        plot="µs/request",
        note=note,
    )
    if http:
        http_note = (
            f"uvicorn ({_uvicorn_stack()}), one worker on CPU 0; wrk -t1 -c32 on CPU 1. Median of {HTTP_ROUNDS} rounds "
            f"of {HTTP_SECONDS} s runs, order rotated per round; spread: min-max of the rounds; ratio: median of the "
            "per-round ratios to Litestar, with their min-max. req/s is wall clock; per server CPU s counts requests "
            "per second of CPU time the server process used (what one core of its own would serve: load from other "
            "processes hardly moves it). "
            f"Load average (1, 5, 15 min; 2 cores) before the HTTP part: {before_http}; after it: {after_http}."
        )
        print(http_note)
        record(
            "response_cache_http",
            "Response cache over HTTP: requests per second",
            ["variant", "req/s", "spread", "ratio", "req per server CPU s", "spread", "ratio"],
            http,
            plot="req/s",
            note=http_note,
        )


if __name__ == "__main__":
    main()
