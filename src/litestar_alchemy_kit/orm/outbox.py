"""The invalidation outbox: a durable record of the invalidations a writer could not announce to the store.

Under the ``"available"`` commit policy a commit whose invalidation markers the store does not take
(the writer lost the store) still commits; it writes the tags it invalidates into the outbox table,
in the same database transaction. Every process that shares the database drains the table: it bumps
the recorded tags in its cache's store and deletes the rows. A process serves cache hits only while
its last complete drain began less than ``staleness_bound`` seconds ago, so no process serves data
older than a commit for longer than that, whoever loses the store.

The table lives in the user's database: add it to the application's ``MetaData`` with
:func:`outbox_table`, so migrations (Alembic's autogenerate) create it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from litestar_alchemy_kit.cache import AsyncCache, SyncCache

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ("OUTBOX_OPTION", "InvalidationOutbox", "outbox_table", "record_undelivered")

logger = logging.getLogger("litestar_alchemy_kit.orm.outbox")

DEFAULT_TABLE_NAME: Final = "lak_invalidation_outbox"
OUTBOX_OPTION: Final = "litestar_alchemy_kit.outbox_record"
"""Execution option of the outbox's own inserts and deletes (not writes the raw-DML listener invalidates)."""
_BATCH: Final = 500
_outboxes: weakref.WeakKeyDictionary[AsyncCache | SyncCache, InvalidationOutbox] = weakref.WeakKeyDictionary()


def outbox_table(metadata: MetaData, name: str = DEFAULT_TABLE_NAME) -> Table:
    """The outbox table, added to ``metadata`` (the application's, so that its migrations create it).

    Columns: ``id`` (ordering), ``namespace`` (the cache namespace), ``tags`` (a JSON list),
    ``clear_namespace`` (the commit clears the whole namespace) and ``created_at``.
    """
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("namespace", String(64), nullable=False, index=True),
        Column("tags", Text(), nullable=False),
        Column("clear_namespace", Boolean(), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


def _no_deadlines() -> dict[str, dict[Engine, float]]:
    return {}


def _no_caches() -> weakref.WeakSet[AsyncCache | SyncCache]:
    return weakref.WeakSet()


@dataclass
class InvalidationOutbox:
    """Where the commits of caches under the ``"available"`` policy record what they could not announce.

    :meth:`attach` a cache, then run the drain in every process that reads through it
    (:meth:`run_async` / :meth:`run_sync`, e.g. from the application's lifespan): until a drain
    completes, and ``staleness_bound`` seconds after the last one began, that cache serves no hits.

    A commit records its row in the database it writes, so an application on several databases has the table
    in each and drains each (one run per engine). The deadline is per cache namespace and the earliest over
    those databases: a namespace's caches serve hits only while every database expected for it (:meth:`expect`;
    each run and drain expects its own) completed a drain within the bound, so one database that cannot be
    drained stops the hits instead of being outrun by the others.
    """

    table: Table
    """The table made by :func:`outbox_table`."""

    staleness_bound: float = 5.0
    """Seconds another process may serve data older than a commit whose writer could not reach the store."""

    drain_interval: float | None = None
    """Seconds between drains; ``None``: a quarter of ``staleness_bound``."""

    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    # Invariant 7 across databases: per namespace, per (sync) engine drained, the deadline its last complete drain
    # gives; the namespace's caches serve until the earliest. Under the lock: sync drains run in threads.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _deadlines: dict[str, dict[Engine, float]] = field(default_factory=_no_deadlines, init=False, repr=False)
    _caches: weakref.WeakSet[AsyncCache | SyncCache] = field(default_factory=_no_caches, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.staleness_bound <= 0:
            msg = f"outbox staleness_bound must be positive, got {self.staleness_bound!r}"
            raise ValueError(msg)
        if self.drain_interval is not None and not 0 < self.drain_interval < self.staleness_bound:
            msg = (
                f"outbox drain_interval must be positive and below staleness_bound ({self.staleness_bound}),"
                f" got {self.drain_interval!r}"
            )
            raise ValueError(msg)

    @property
    def interval(self) -> float:
        """Seconds between drains."""
        return self.drain_interval if self.drain_interval is not None else self.staleness_bound / 4

    def attach(self, cache: AsyncCache | SyncCache) -> None:
        """Record ``cache``'s undelivered invalidations here, and hold its hits until a drain completes."""
        _outboxes[cache] = self
        with self._lock:
            self._caches.add(cache)
            cache.serve_until(time.monotonic())

    def expect(self, engine: Engine | AsyncEngine, cache: AsyncCache | SyncCache) -> None:
        """Count ``engine``'s database among those ``cache``'s namespace is drained from (no-op if counted).

        Until a drain through ``engine`` completes, no cache of that namespace serves hits. :meth:`run_async` and
        :meth:`run_sync` expect their engine as they start: expect every engine first when starting several, so
        that the first to drain does not let hits through before the others ran.
        """
        self._completed(engine, cache, -math.inf)

    def _completed(self, engine: Engine | AsyncEngine, cache: AsyncCache | SyncCache, deadline: float) -> None:
        key = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        with self._lock:
            drained = self._deadlines.setdefault(cache.namespace, {})
            # drains that complete out of order: the later start holds (it saw every row committed before it)
            drained[key] = max(drained.get(key, -math.inf), deadline)
            until = min(drained.values())
            for attached in (cache, *self._caches):
                if attached.namespace == cache.namespace:
                    attached.serve_until(until)

    def _rows(self, rows: Sequence[Any]) -> tuple[list[Any], list[str], bool]:
        ids: list[Any] = []
        tags: set[str] = set()
        clear = False
        for row in rows:
            ids.append(row.id)
            tags.update(json.loads(row.tags))
            clear = clear or bool(row.clear_namespace)
        return ids, sorted(tags), clear

    def _select(self, namespace: str) -> Any:
        table = self.table
        return (
            select(table.c.id, table.c.tags, table.c.clear_namespace)
            .where(table.c.namespace == namespace)
            .order_by(table.c.id)
            .limit(_BATCH)
        )

    def _peers(self, cache: AsyncCache | SyncCache) -> list[AsyncCache | SyncCache]:
        """``cache`` and every other attached cache of its namespace, to each of which a drain delivers its rows.

        Before deleting them: caches of one namespace may sit on different stores (e.g. a response cache's own).
        """
        with self._lock:
            return [cache, *(c for c in self._caches if c is not cache and c.namespace == cache.namespace)]

    async def drain_async(self, engine: AsyncEngine, cache: AsyncCache) -> bool:
        """Deliver and delete ``cache``'s outbox rows; ``True`` (and hits allowed again) if all were delivered.

        Delivered to every attached async cache of the namespace: an async and a sync cache of one namespace share
        one store (the plugin's do), or the sync one's drain must run where these rows are.
        """
        started = time.monotonic()
        caches = [c for c in self._peers(cache) if isinstance(c, AsyncCache)]
        async with engine.connect() as connection:
            while True:
                rows = (await connection.execute(self._select(cache.namespace))).all()
                ids, tags, clear = self._rows(rows)
                for each in caches:
                    if clear and not await each.clear():
                        return False
                    if tags and not await each.bump(tags):
                        return False
                if ids:
                    await connection.execute(
                        delete(self.table).where(self.table.c.id.in_(ids)).execution_options(**{OUTBOX_OPTION: True})
                    )
                await connection.commit()
                if len(rows) < _BATCH:
                    break
        self._completed(engine, cache, started + self.staleness_bound)
        return True

    def drain_sync(self, engine: Engine, cache: SyncCache) -> bool:
        """:meth:`drain_async` for a sync engine and cache."""
        started = time.monotonic()
        caches = [c for c in self._peers(cache) if isinstance(c, SyncCache)]
        with engine.connect() as connection:
            while True:
                rows = connection.execute(self._select(cache.namespace)).all()
                ids, tags, clear = self._rows(rows)
                for each in caches:
                    if clear and not each.clear():
                        return False
                    if tags and not each.bump(tags):
                        return False
                if ids:
                    connection.execute(
                        delete(self.table).where(self.table.c.id.in_(ids)).execution_options(**{OUTBOX_OPTION: True})
                    )
                connection.commit()
                if len(rows) < _BATCH:
                    break
        self._completed(engine, cache, started + self.staleness_bound)
        return True

    async def run_async(self, engine: AsyncEngine, cache: AsyncCache) -> None:
        """Drain every :attr:`interval` until cancelled; a failing drain is logged and retried."""
        self.expect(engine, cache)
        failing = False
        while True:
            try:
                await self.drain_async(engine, cache)
            except Exception as error:  # noqa: BLE001 - retried; _logged reports it
                failing = _logged(failing, engine, cache, error)
            else:
                failing = _logged(failing, engine, cache, None)
            await asyncio.sleep(self.interval)

    def run_sync(self, engine: Engine, cache: SyncCache) -> threading.Thread:
        """Drain every :attr:`interval` in a daemon thread, until :meth:`stop`; returns the thread."""
        self._stop.clear()
        self.expect(engine, cache)

        def loop() -> None:
            failing = False
            while not self._stop.is_set():
                try:
                    self.drain_sync(engine, cache)
                except Exception as error:  # noqa: BLE001 - retried; _logged reports it
                    failing = _logged(failing, engine, cache, error)
                else:
                    failing = _logged(failing, engine, cache, None)
                self._stop.wait(self.interval)

        thread = threading.Thread(target=loop, name="lak-outbox-drain", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop the thread started by :meth:`run_sync`."""
        self._stop.set()


def _logged(
    failing: bool, engine: Engine | AsyncEngine, cache: AsyncCache | SyncCache, error: Exception | None
) -> bool:
    """Log a drain's outcome and return whether the run is failing now.

    The first failure of a run is a warning (a database without the table, or out of reach: the namespace's hits
    stop once ``staleness_bound`` has passed), the next ones debug; a drain completing after failures is info.
    """
    where = engine.url.render_as_string(hide_password=True)
    if error is None:
        if failing:
            logger.info("invalidation outbox drain through %s completes again (namespace=%s)", where, cache.namespace)
        return False
    logger.log(
        logging.DEBUG if failing else logging.WARNING,
        "invalidation outbox drain through %s failed (namespace=%s): this process serves no cache hits of the"
        " namespace once staleness_bound has passed since its last complete drain",
        where,
        cache.namespace,
        exc_info=error,
    )
    return True


def record_undelivered(
    where: Session | Connection, cache: AsyncCache | SyncCache, tags: Sequence[str], *, namespace: bool
) -> None:
    """Write a commit's undelivered invalidation into ``cache``'s outbox, in the transaction of ``where``.

    Without an outbox attached to ``cache`` it is only logged: other processes may then serve data
    older than the commit until their entries expire. The insert carries :data:`OUTBOX_OPTION`, so the
    raw-DML listener does not take it for a write of the application's.
    """
    outbox = _outboxes.get(cache)
    if outbox is None:
        logger.warning(
            "commit in namespace %s could not mark its %d tag(s) and no invalidation outbox is attached: other"
            " processes may serve data older than this commit until their entries expire",
            cache.namespace,
            len(tags),
        )
        return
    connection = where.connection() if isinstance(where, Session) else where
    connection.execute(
        insert(outbox.table)
        .execution_options(**{OUTBOX_OPTION: True})
        .values(
            namespace=cache.namespace,
            tags=json.dumps(list(tags)),
            clear_namespace=namespace,
            created_at=datetime.now(timezone.utc),
        )
    )
