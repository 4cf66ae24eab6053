"""One app process of the partition and crash tests: a writer or a reader of one row, async or sync.

Usage: ``python -m tests.integration.repository._commit_process '<json config>'``. Protocol on stdin/stdout, one
line each; EOF ends the process:

- ``write <n>`` (writer): set the row's quantity to ``n`` and commit -> ``ok``, or ``refused`` when the commit is
  refused (:class:`~litestar_alchemy_kit.exceptions.CommitRefusedError`, the session is rolled back). With
  ``"writer": "engine"`` the write is an ``UPDATE`` in an ``engine.begin()`` block, which no session owns;
- ``read`` (reader) -> ``<quantity> <hits>``.

The writer prints ``committed <unix time>`` once the database has committed, before the kit delivers the
invalidation (the session's ``after_commit``, or, for an engine write, the connection's return to the pool); with
``block_after_commit`` it blocks there, so the test can SIGKILL it at that point.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _announce_commits(block: bool) -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def announce(session: Session) -> None:
        del session
        _say(f"committed {time.time()!r}")
        if block:
            time.sleep(3600)

    # insert=True: runs before the kit's after_commit listener, which delivers the invalidation.
    event.listen(Session, "after_commit", announce, insert=True)


_engine_writing: list[bool] = []


def _announce_engine_commits(block: bool) -> None:
    """The engine write's connection returns to the pool after its COMMIT: announce there, before the kit settles."""
    from sqlalchemy import Engine, event
    from sqlalchemy.pool import Pool

    from litestar_alchemy_kit.orm import install_listeners, rawdml

    def announce(*args: Any) -> None:
        del args
        if _engine_writing:
            _engine_writing.clear()
            _say(f"committed {time.time()!r}")
            if block:
                time.sleep(3600)

    install_listeners()
    # The kit's commit listener (it marks, or refuses the commit by raising) runs before this one: a refused
    # commit is never announced.
    event.listen(Engine, "commit", lambda connection: _engine_writing.append(True))
    # Class-level Pool listeners run in registration order: the kit's settle goes after this one.
    event.remove(Pool, "checkin", rawdml._checkin)
    event.listen(Pool, "checkin", announce)
    event.listen(Pool, "checkin", rawdml._checkin)


def _timeout(config: dict[str, Any]) -> float:
    # The writer of a partition scenario gives up on its cut-off store quickly. Every other store is never cut off:
    # the reader's, and the crash scenario's writer (killed after its commit), whose marker must be taken for its
    # commit to go through under the strict policy. On a loaded machine a short timeout would only turn their reads
    # into misses and that marker into a refused commit (a CI run beside other load saw a 0.5 s marker time out).
    return 0.5 if config["role"] == "writer" and not config.get("block_after_commit") else 2.0


def _options(config: dict[str, Any]) -> Any:
    from litestar_alchemy_kit.cache import CacheOptions

    return CacheOptions(commit_policy=config["policy"], marker_ttl=config["marker_ttl"], timeout=_timeout(config))


def _outbox(config: dict[str, Any]) -> Any:
    from sqlalchemy import MetaData

    from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table

    if not config["outbox"]:
        return None
    return InvalidationOutbox(
        outbox_table(MetaData()), staleness_bound=config["bound"], drain_interval=config["interval"]
    )


async def run_async(config: dict[str, Any]) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from litestar_alchemy_kit.cache import AsyncCache, PipelinedRedisBackend
    from litestar_alchemy_kit.exceptions import CommitRefusedError
    from litestar_alchemy_kit.orm import bind_cache
    from tests.integration.repository._async import ItemRepository
    from tests.integration.repository.models import Item

    if config["store_kind"] == "valkey":
        from valkey.asyncio import Valkey as Client
    else:
        from redis.asyncio import Redis as Client  # type: ignore[assignment]
    client = Client.from_url(
        config["store_url"], socket_timeout=_timeout(config), socket_connect_timeout=_timeout(config)
    )
    cache = AsyncCache(PipelinedRedisBackend(client), namespace=config["namespace"], options=_options(config))
    engine = create_async_engine(config["db_url"])
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    bind_cache(sessions, cache)  # also what makes the engine's own writes invalidate the cache
    outbox = _outbox(config)
    drain: asyncio.Task[None] | None = None
    if outbox is not None:
        outbox.attach(cache)
        if config["role"] == "reader":
            drain = asyncio.ensure_future(outbox.run_async(engine, cache))
    item_id = uuid.UUID(config["item_id"])
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).split():
        if line[0] == "read":
            async with sessions() as session:
                item = await ItemRepository(session=session, cache=cache).get(item_id)
            _say(f"{item.quantity} {cache.stats['hit']}")
        else:
            try:
                if config.get("writer") == "engine":
                    async with engine.begin() as conn:
                        await conn.execute(_engine_update(item_id, int(line[1])))
                else:
                    async with sessions() as session:
                        await ItemRepository(session=session, cache=cache).update(
                            Item(id=item_id, quantity=int(line[1])), auto_commit=True
                        )
            except CommitRefusedError:
                _say("refused")
            else:
                _say("ok")
    if drain is not None:
        drain.cancel()
    await cache.close()
    await client.aclose()
    await engine.dispose()


def run_sync(config: dict[str, Any]) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from litestar_alchemy_kit.cache import SyncCache
    from litestar_alchemy_kit.exceptions import CommitRefusedError
    from litestar_alchemy_kit.orm import bind_cache
    from tests.integration.repository._sync import ItemRepository
    from tests.integration.repository.models import Item

    if config["store_kind"] == "valkey":
        from valkey import Valkey as Client
    else:
        from redis import Redis as Client  # type: ignore[assignment]
    client = Client.from_url(
        config["store_url"], socket_timeout=_timeout(config), socket_connect_timeout=_timeout(config)
    )
    cache = SyncCache(client, namespace=config["namespace"], options=_options(config))
    engine = create_engine(config["db_url"])
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_cache(sessions, cache)  # also what makes the engine's own writes invalidate the cache
    outbox = _outbox(config)
    if outbox is not None:
        outbox.attach(cache)
        if config["role"] == "reader":
            outbox.run_sync(engine, cache)
    item_id = uuid.UUID(config["item_id"])
    while line := sys.stdin.readline().split():
        if line[0] == "read":
            with sessions() as session:
                item = ItemRepository(session=session, cache=cache).get(item_id)
            _say(f"{item.quantity} {cache.stats['hit']}")
        else:
            try:
                if config.get("writer") == "engine":
                    with engine.begin() as conn:
                        conn.execute(_engine_update(item_id, int(line[1])))
                else:
                    with sessions() as session:
                        ItemRepository(session=session, cache=cache).update(
                            Item(id=item_id, quantity=int(line[1])), auto_commit=True
                        )
            except CommitRefusedError:
                _say("refused")
            else:
                _say("ok")
    if outbox is not None:
        outbox.stop()
    cache.close()
    client.close()
    engine.dispose()


def _engine_update(item_id: uuid.UUID, quantity: int) -> Any:
    from sqlalchemy import update

    from tests.integration.repository.models import Item

    return update(Item.__table__).where(Item.__table__.c.id == item_id).values(quantity=quantity)


def main(config: dict[str, Any]) -> None:
    if config["role"] == "writer":
        if config.get("writer") == "engine":
            _announce_engine_commits(block=bool(config.get("block_after_commit")))
        else:
            _announce_commits(block=bool(config.get("block_after_commit")))
    if config["flavour"] == "async":
        asyncio.run(run_async(config))
    else:
        run_sync(config)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
