"""Invariant 1 when the writer cannot reach the store: real processes, a real Redis or Valkey, a real database.

Two app processes share a database and a private store server: a reader that reaches the store directly, a
writer that reaches it through a :class:`~tests.integration._tcp_proxy.PartitionProxy`. Each test counts the
reader's *stale reads*: values older than the last committed one, read after that commit returned.

- partition: the writer's link to the store is cut, the writer commits, the link heals. Strict policy: the
  commit is refused (nothing committed) and no read is stale. Available policy: the commit goes through, its
  invalidation waits in the outbox, and stale reads end within the outbox's staleness bound.
- crash: the writer blocks after the database committed, before it settles its invalidation, and is killed
  with SIGKILL there. Under both policies no read is stale (the commit's markers hold every process off the
  affected tags), and the reader's cache serves hits again once the markers expire.

The numbers (stale reads, the longest staleness observed) are printed with ``-s``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select

from litestar_alchemy_kit.orm.outbox import outbox_table
from tests.integration._tcp_proxy import PartitionProxy
from tests.integration.cache._servers import OwnServer
from tests.integration.repository.models import Item, RepoBase

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
BOUND = 3.0  # the outbox's staleness bound (available policy), seconds
INTERVAL = 1.0  # the outbox drain interval, seconds: long enough for stale reads to be seen, and to end
MARKER_TTL = 2.0
PARTITION = 4.0  # seconds the writer stays cut off after its commit: longer than BOUND, so the outbox must end it
HEALED = 1.0  # seconds of reads after the partition heals (50 reads)

# (store, database, flavour): every store, database and flavour appears with both policies and both faults.
SETUPS = [
    ("redis", "sqlite", "async"),
    ("valkey", "postgresql", "sync"),
    ("valkey", "sqlite", "sync"),
    ("redis", "postgresql", "async"),
]


class Process:
    """One app process of :mod:`tests.integration.repository._commit_process`; its output lines go to a queue."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.repository._commit_process", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            # The parent's PYTHONPATH first: the mutation runner puts a mutated copy of src/ there.
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def line(self, timeout: float = 30.0) -> str:
        return self.lines.get(timeout=timeout)

    def ask(self, command: str) -> str:
        self.send(command)
        return self.line()

    def read(self) -> tuple[int, int]:
        quantity, hits = self.ask("read").split()
        return int(quantity), int(hits)

    def write(self, value: int) -> str:
        """``ok`` or ``refused``, skipping the ``committed`` announcement."""
        self.send(f"write {value}")
        while (answer := self.line()).startswith("committed"):
            pass
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Staleness:
    """The reader's reads around a commit: how many were stale, and for how long after the commit.

    A read is stale if it started after the database committed (the writer announces the moment) and returned
    an older value.
    """

    reads: int = 0
    stale: int = 0
    longest: float = 0.0  # seconds from the commit to the start of the last stale read
    committed_at: float | None = None
    answer: str | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)

    def watch(self, reader: Process, seconds: float, writer: Process | None = None) -> None:
        """Read for ``seconds``, following ``writer``'s announcements; then classify every read."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            while writer is not None and not writer.lines.empty():
                line = writer.lines.get()
                if line.startswith("committed"):
                    self.committed_at = float(line.split()[1])
                else:
                    self.answer = line
            started = time.time()
            self.samples.append((started, reader.read()[0]))
            time.sleep(0.02)

    def classify(self, before: int, after: int) -> None:
        """Count stale reads, given the values before and after the commit (``committed_at``)."""
        for started, value in self.samples:
            assert value in {before, after}, f"read {value}: neither the value before ({before}) nor after ({after})"
            if self.committed_at is not None and started > self.committed_at:
                self.reads += 1
                if value != after:
                    self.stale += 1
                    self.longest = max(self.longest, started - self.committed_at)


def _urls(database: str, flavour: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(url of the processes' engine, url of the test's own sync engine)."""
    if database == "sqlite":
        path = tmp_path / "shared.db"
        return (f"sqlite+aiosqlite:///{path}" if flavour == "async" else f"sqlite:///{path}"), f"sqlite:///{path}"
    base: str = request.getfixturevalue("postgres_url")
    driverless = base.split("://", 1)[1]
    app = f"postgresql+asyncpg://{driverless}" if flavour == "async" else f"postgresql+psycopg://{driverless}"
    return app, f"postgresql+psycopg://{driverless}"


@dataclass
class World:
    reader: Process
    writer: Process
    proxy: PartitionProxy
    server: OwnServer
    db_url: str

    def committed(self, item_id: uuid.UUID) -> int:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as connection:
                return int(connection.execute(select(Item.quantity).where(Item.id == item_id)).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture
def world_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    made: list[Any] = []

    def make(
        setup: tuple[str, str, str], policy: str, *, block_after_commit: bool, writer_kind: str = "session"
    ) -> tuple[World, uuid.UUID]:
        store_kind, database, flavour = setup
        server = OwnServer(store_kind).start()
        made.append(server.stop)
        proxy = PartitionProxy(server.port).start()
        made.append(proxy.stop)
        app_url, test_url = _urls(database, flavour, request, tmp_path)
        engine = create_engine(test_url)
        outbox_metadata = MetaData()
        outbox = outbox_table(outbox_metadata)
        with engine.begin() as connection:
            RepoBase.metadata.create_all(connection)
            outbox_metadata.create_all(connection)
            item_id = uuid.uuid4()
            connection.execute(Item.__table__.insert().values(id=item_id, name="shared", quantity=0, tenant="a"))
            connection.execute(outbox.delete())
        engine.dispose()
        config: dict[str, Any] = {
            "flavour": flavour,
            "db_url": app_url,
            "store_kind": store_kind,
            "namespace": f"lakpart{uuid.uuid4().hex[:8]}",
            "item_id": str(item_id),
            "policy": policy,
            "marker_ttl": MARKER_TTL,
            "outbox": policy == "available",
            "bound": BOUND,
            "interval": INTERVAL,
        }
        reader = Process({**config, "role": "reader", "store_url": server.url})
        made.append(reader.close)
        writer = Process(
            {
                **config,
                "role": "writer",
                "store_url": f"redis://127.0.0.1:{proxy.port}/0",
                "block_after_commit": block_after_commit,
                "writer": writer_kind,
            }
        )
        made.append(writer.close)
        return World(reader, writer, proxy, server, test_url), item_id

    yield make
    for undo in reversed(made):
        undo()


def _warm(reader: Process, expected: int) -> None:
    """Read until the reader is served from its cache (the outbox's first drain must have run, if any)."""
    deadline = time.monotonic() + 30
    hits = reader.read()[1]
    while time.monotonic() < deadline:
        value, now = reader.read()
        assert value == expected
        if now > hits:
            return
        hits = now
        time.sleep(0.05)
    pytest.fail("the reader never served a hit")


def _report(name: str, staleness: Staleness) -> None:
    sys.stdout.write(
        f"\n{name}: {staleness.reads} reads after the commit, {staleness.stale} stale,"
        f" longest staleness {staleness.longest:.3f}s\n"
    )


# The writer commits through a session (a cached repository), or through an engine connection no session owns
# (an UPDATE in an ``engine.begin()`` block): both stores, both flavours, SQLite and PostgreSQL.
WRITERS = [(setup, "session") for setup in SETUPS] + [(SETUPS[0], "engine"), (SETUPS[1], "engine")]
WRITER_IDS = ["-".join(setup) + ("" if kind == "session" else "-engine") for setup, kind in WRITERS]


@pytest.mark.parametrize(("setup", "writer_kind"), WRITERS, ids=WRITER_IDS)
@pytest.mark.parametrize("policy", ["strict", "available"])
def test_writer_partitioned_from_the_store(
    world_factory: Any, setup: tuple[str, str, str], writer_kind: str, policy: str
) -> None:
    world, item_id = world_factory(setup, policy, block_after_commit=False, writer_kind=writer_kind)
    name = "-".join((*setup, writer_kind))
    reader, writer = world.reader, world.writer
    _warm(reader, 0)
    assert writer.write(1) == "ok"
    assert reader.read()[0] == 1, "a commit with the store reachable must be seen at once"
    _warm(reader, 1)

    world.proxy.partition()
    writer.send("write 2")
    during = Staleness()
    during.watch(reader, PARTITION, writer)
    world.proxy.heal()
    healed = Staleness()
    healed.watch(reader, HEALED, writer)
    if policy == "strict":
        assert during.answer == "refused"
        assert during.committed_at is None
        assert world.committed(item_id) == 1, "a refused commit must not reach the database"
        assert {value for _, value in during.samples + healed.samples} == {1}
        during.reads, healed.reads = len(during.samples), len(healed.samples)  # every read: no commit happened
    else:
        assert during.answer == "ok"
        assert during.committed_at is not None
        assert world.committed(item_id) == 2
        during.classify(1, 2)
        healed.committed_at = during.committed_at
        healed.classify(1, 2)
        assert during.longest <= BOUND, f"stale {during.longest:.3f}s after the commit, bound {BOUND}s"
        assert during.samples[-1][1] == 2, "the staleness must end while the writer is still cut off"
        assert healed.stale == 0
    _report(f"partition {policy} {name}: partitioned", during)
    _report(f"partition {policy} {name}: healed", healed)

    # Healed, the writer commits again (its breaker may need a cooldown first) and is seen at once.
    deadline = time.monotonic() + 15
    while (answer := writer.write(3)) != "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer == "ok"
    assert reader.read()[0] == 3


@pytest.mark.parametrize(("setup", "writer_kind"), WRITERS, ids=WRITER_IDS)
@pytest.mark.parametrize("policy", ["strict", "available"])
def test_writer_killed_after_commit_before_delivery(
    world_factory: Any, setup: tuple[str, str, str], writer_kind: str, policy: str
) -> None:
    world, item_id = world_factory(setup, policy, block_after_commit=True, writer_kind=writer_kind)
    name = "-".join((*setup, writer_kind))
    reader, writer = world.reader, world.writer
    _warm(reader, 0)
    writer.send("write 1")
    announced = writer.line()  # the database committed; the invalidation is not delivered
    assert announced.startswith("committed")
    assert world.committed(item_id) == 1
    blocked = Staleness(committed_at=float(announced.split()[1]))
    blocked.watch(reader, 0.5)
    blocked.classify(0, 1)
    os.kill(writer.process.pid, signal.SIGKILL)
    writer.process.wait(timeout=10)
    killed = Staleness(committed_at=blocked.committed_at)
    killed.watch(reader, 1.0)
    killed.classify(0, 1)
    assert blocked.stale == 0
    assert killed.stale == 0
    _report(f"crash {policy} {name}: writer blocked", blocked)
    _report(f"crash {policy} {name}: writer killed", killed)
    # The dead writer's markers expire: the reader caches the committed value again.
    time.sleep(max(0.0, blocked.committed_at + MARKER_TTL - time.time()))
    _warm(reader, 1)
