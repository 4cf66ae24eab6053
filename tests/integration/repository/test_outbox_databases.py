"""The invalidation outbox on an app with more than one database (``AlchemyKitConfig.alchemy`` a list), and with
a response cache on a cache of its own, over real apps, real databases and a real Redis.

A commit records its outbox row on the connection it writes through, so every config's database holds the
table and is drained; a cache serves hits only while every one of those databases completed a drain within
``staleness_bound`` (invariant 7). Each scenario: a reader process (its store reachable) caches a row; a writer
process of the same app, cut off from the store (policy ``"available"``), updates that row through the app; the
reader keeps reading, and must not serve the value from before the commit past the bound.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.stores.redis import RedisStore
from litestar.testing import TestClient
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, AsyncCache, CacheOptions, OutboxConfig
from litestar_alchemy_kit.cache import CachePluginConfig
from litestar_alchemy_kit.orm.outbox import outbox_table
from tests._backends import free_port
from tests.integration._tcp_proxy import PartitionProxy
from tests.integration.repository._async import ItemRepository
from tests.integration.repository.models import Item

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]

OUTBOX = "lak_outbox_dbs"
BOUND = 1.0
INTERVAL = 0.2


def _metadata(*, with_outbox: bool = False) -> MetaData:
    """An application metadata with the test table (a copy); ``with_outbox``: the outbox table made by the user."""
    metadata = MetaData()
    Item.__table__.to_metadata(metadata)
    if with_outbox:
        outbox_table(metadata, OUTBOX)
    return metadata


@get("/a/{item_id:uuid}")
async def read_a(
    item_id: FromPath[UUID], db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache]
) -> dict[str, int]:
    item = await ItemRepository(session=db_session, cache=cache).get(item_id)
    return {"quantity": item.quantity, "hits": cache.stats["hit"]}


@get("/b/{item_id:uuid}")
async def read_b(
    item_id: FromPath[UUID], db_session_b: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache]
) -> dict[str, int]:
    item = await ItemRepository(session=db_session_b, cache=cache).get(item_id)
    return {"quantity": item.quantity, "hits": cache.stats["hit"]}


@post("/b/{item_id:uuid}/{quantity:int}")
async def write_b(
    item_id: FromPath[UUID],
    quantity: FromPath[int],
    db_session_b: NamedDependency[AsyncSession],
    cache: NamedDependency[AsyncCache],
) -> dict[str, int]:
    await ItemRepository(session=db_session_b, cache=cache).update(
        Item(id=item_id, quantity=quantity), auto_commit=True
    )
    return {"quantity": quantity}


def make_app(
    db_a: str,
    db_b: str,
    store_url: str | None,
    namespace: str,
    *,
    metadata_a: MetaData,
    metadata_b: MetaData,
    engine_b: EngineConfig | None = None,
) -> Litestar:
    """One application on two databases (two AA configs); ``store_url`` ``None``: a port nobody listens on."""
    if store_url is None:
        client = Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    else:
        client = Redis.from_url(store_url, socket_timeout=2.0)
    config_a = SQLAlchemyAsyncConfig(
        connection_string=db_a,
        metadata=metadata_a,
        bind_key="obdb_a",
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    config_b = SQLAlchemyAsyncConfig(
        connection_string=db_b,
        metadata=metadata_b,
        bind_key="obdb_b",
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
        engine_dependency_key="db_engine_b",
        session_dependency_key="db_session_b",
        engine_app_state_key="db_engine_b",
        session_maker_app_state_key="session_maker_b",
        session_scope_key="_obdb_db_session_b",
        engine_config=engine_b if engine_b is not None else EngineConfig(),
    )
    kit = AlchemyKitConfig(
        alchemy=[config_a, config_b],
        cache=CachePluginConfig(namespace=namespace, options=CacheOptions(commit_policy="available", timeout=0.5)),
        outbox=OutboxConfig(metadata=metadata_a, table_name=OUTBOX, staleness_bound=BOUND, drain_interval=INTERVAL),
        response_cache=None,
        cli=False,
    )
    return Litestar(
        [read_a, read_b, write_b],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": RedisStore(client, namespace=None)},
    )


def _until(condition: Any, what: str, limit: float = 30) -> None:
    """Wait for ``condition()`` (a guard against hanging, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


def _warm(client: TestClient[Any], path: str, expected: int) -> None:
    """Read until a hit (the first drain must have completed: an attached cache serves no hit before it)."""
    seen: list[dict[str, int]] = []

    def hit() -> bool:
        seen.append(client.get(path).json())
        assert seen[-1]["quantity"] == expected
        return len(seen) > 1 and seen[-1]["hits"] > seen[-2]["hits"]

    _until(hit, f"a cache hit on {path}")


def _reads_after_the_bound(client: TestClient[Any], path: str) -> list[dict[str, int]]:
    """What ``path`` answers during the two bounds after one and a half have passed since the commit.

    An answer that is not a 200 (the database could not be reached) counts as quantity ``-1``: not a stale read.
    """
    time.sleep(BOUND * 1.5)
    answers = []
    end = time.monotonic() + BOUND * 2
    while time.monotonic() < end:
        response = client.get(path)
        answers.append(response.json() if response.status_code == 200 else {"quantity": -1, "hits": -1})
        time.sleep(0.1)
    return answers


def _seed(url: str, metadata: MetaData, item_id: uuid.UUID) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            metadata.create_all(connection)
            table = metadata.tables[Item.__table__.name]
            connection.execute(table.insert().values(id=item_id, name="x", quantity=1, tenant="a"))
    finally:
        engine.dispose()


def _outbox_rows(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT count(*) FROM {OUTBOX}")).scalar_one()
    finally:
        engine.dispose()


def _drop_tables(url: Any) -> None:
    """Drop this module's tables with psycopg itself (DDL through SQLAlchemy would be taken for an app write)."""
    import psycopg

    from tests import _backends as backends

    with psycopg.connect(backends.libpq(url.set(drivername="postgresql")), autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {OUTBOX}")
        connection.execute(f"DROP TABLE IF EXISTS {Item.__table__.name}")


@pytest.fixture
def sqlite_dbs(tmp_path: Path) -> tuple[str, str, str, str]:
    """Two SQLite databases: (async URL a, async URL b, sync URL a, sync URL b)."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    return f"sqlite+aiosqlite:///{a}", f"sqlite+aiosqlite:///{b}", f"sqlite:///{a}", f"sqlite:///{b}"


def test_available_commit_through_a_second_database_does_not_crash(
    redis_url: str, sqlite_dbs: tuple[str, str, str, str]
) -> None:
    """The outbox table sits on the first config's metadata by default, yet the cache is bound to every
    config's sessions: a commit through database B whose writer cannot reach the store writes its outbox row on
    B's connection. The table is added to every config's metadata, so the ``"available"`` commit, which a store
    outage must never fail, commits (it failed with "no such table", the update rolled back)."""
    db_a, db_b, sync_a, sync_b = sqlite_dbs
    metadata_a, metadata_b = _metadata(), _metadata()
    item_id = uuid.uuid4()
    _seed(sync_a, metadata_a, item_id)
    _seed(sync_b, metadata_b, item_id)
    writer = make_app(db_a, db_b, None, f"obdb_{uuid.uuid4().hex[:8]}", metadata_a=metadata_a, metadata_b=metadata_b)
    with TestClient(writer, raise_server_exceptions=False) as client:
        response = client.post(f"/b/{item_id}/2")
    engine = create_engine(sync_b)
    try:
        with engine.connect() as connection:
            table = metadata_b.tables[Item.__table__.name]
            quantity = connection.execute(select(table.c.quantity).where(table.c.id == item_id)).scalar_one()
    finally:
        engine.dispose()
    assert (response.status_code, quantity) == (201, 2), (
        f"the 'available' commit through the second database failed: {response.status_code} {response.text[:300]}"
    )


def test_outbox_rows_of_a_second_database_are_drained(redis_url: str, sqlite_dbs: tuple[str, str, str, str]) -> None:
    """Database B holds the outbox table and the writer's row lands there: B is drained too (only the configs on
    the outbox's metadata were, while A's drains kept moving the one deadline: the reader served the value from
    before the commit indefinitely)."""
    db_a, db_b, sync_a, sync_b = sqlite_dbs
    metadata_a = _metadata()
    item_id = uuid.uuid4()
    _seed(sync_a, _metadata(), item_id)
    _seed(sync_b, _metadata(with_outbox=True), item_id)
    namespace = f"obdb_{uuid.uuid4().hex[:8]}"
    reader_app = make_app(
        db_a, db_b, redis_url, namespace, metadata_a=metadata_a, metadata_b=_metadata(with_outbox=True)
    )
    with TestClient(reader_app) as reader:
        _warm(reader, f"/b/{item_id}", 1)
        writer_app = make_app(
            db_a, db_b, None, namespace, metadata_a=_metadata(), metadata_b=_metadata(with_outbox=True)
        )
        with TestClient(writer_app) as writer:
            assert writer.post(f"/b/{item_id}/2").status_code == 201
        # (the reader's drain may take the writer's row from B's outbox at any time now: not counted)
        answers = _reads_after_the_bound(reader, f"/b/{item_id}")
    stale = [answer for answer in answers if answer["quantity"] == 1]
    assert not stale, (
        f"{len(stale)} of {len(answers)} reads {1.5 * BOUND:.1f}-{3.5 * BOUND:.1f}s after the commit served the value"
        f" from before it (bound {BOUND}s); database B's outbox holds {_outbox_rows(sync_b)} row(s)"
    )


@pytest.mark.asyncpg
def test_a_database_the_reader_cannot_drain_stops_its_hits(redis_url: str, postgres_url: str, tmp_path: Path) -> None:
    """Both configs on one metadata, each database drained by its own task. The reader is cut off from database B
    (a partition: its drain of B hangs) while its drain of A completes every ``drain_interval``: the deadline is
    the earliest over the databases, so the reader stops serving hits once B's last drain is older than the bound
    (any completed drain moved the cache's one deadline: B's rows were served from the cache past the bound)."""
    item_id = uuid.uuid4()
    sync_a = f"sqlite:///{tmp_path / 'a.db'}"
    db_a = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    pg = make_url(postgres_url)
    sync_b = pg.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    db_b = pg.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    _seed(sync_a, _metadata(), item_id)
    _drop_tables(pg)
    _seed(sync_b, _metadata(), item_id)
    proxy = PartitionProxy(pg.port or 5432).start()
    db_b_proxied = pg.set(drivername="postgresql+asyncpg", host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    namespace = f"obdb_{uuid.uuid4().hex[:8]}"
    shared = _metadata()
    try:
        # reads and drains through the partition fail after a second instead of waiting for TCP's timeouts
        quick = EngineConfig(connect_args={"timeout": 1, "command_timeout": 1})
        reader_app = make_app(
            db_a, db_b_proxied, redis_url, namespace, metadata_a=shared, metadata_b=shared, engine_b=quick
        )
        with TestClient(reader_app, raise_server_exceptions=False) as reader:
            _warm(reader, f"/b/{item_id}", 1)
            proxy.partition()  # the reader can no longer reach database B; the writer can
            other = _metadata()
            with TestClient(make_app(db_a, db_b, None, namespace, metadata_a=other, metadata_b=other)) as writer:
                assert writer.post(f"/b/{item_id}/2").status_code == 201
            assert _outbox_rows(sync_b) == 1
            answers = _reads_after_the_bound(reader, f"/b/{item_id}")
            proxy.heal()
    finally:
        proxy.heal()
        proxy.stop()
        _drop_tables(pg)
    stale = [answer for answer in answers if answer["quantity"] == 1]
    assert not stale, (
        f"{len(stale)} of {len(answers)} reads {1.5 * BOUND:.1f}-{3.5 * BOUND:.1f}s after the commit were cache hits"
        f" on the value from before it (bound {BOUND}s), while the drain of database B could not run"
    )


@get("/rc/{item_id:uuid}", opt={"response_cache": True})
async def read_response_cached(
    item_id: FromPath[UUID], db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache]
) -> dict[str, int]:
    item = await ItemRepository(session=db_session, cache=cache).get(item_id)
    return {"quantity": item.quantity}


def make_response_app(db: str, store_url: str | None, namespace: str) -> Litestar:
    """One database, the outbox, and a response cache on a cache of its own (``cache_state_key``, own namespace)."""
    from litestar_alchemy_kit import ResponseCachePluginConfig

    if store_url is None:
        client = Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    else:
        client = Redis.from_url(store_url, socket_timeout=2.0)
    alchemy = SQLAlchemyAsyncConfig(
        connection_string=db,
        metadata=_metadata(),
        bind_key="obdb_rc",
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    options = CacheOptions(commit_policy="available", timeout=0.5)
    kit = AlchemyKitConfig(
        alchemy=alchemy,
        cache=CachePluginConfig(namespace=namespace, options=options),
        outbox=OutboxConfig(table_name=OUTBOX, staleness_bound=BOUND, drain_interval=INTERVAL),
        response_cache=ResponseCachePluginConfig(
            cache_state_key="obdb_responses", namespace=f"{namespace}_rc", store="cache", options=options
        ),
        cli=False,
    )
    return Litestar(
        [read_response_cached, write_a],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": RedisStore(client, namespace=None)},
    )


@post("/a/{item_id:uuid}/{quantity:int}")
async def write_a(
    item_id: FromPath[UUID],
    quantity: FromPath[int],
    db_session: NamedDependency[AsyncSession],
    cache: NamedDependency[AsyncCache],
) -> dict[str, int]:
    await ItemRepository(session=db_session, cache=cache).update(Item(id=item_id, quantity=quantity), auto_commit=True)
    return {"quantity": quantity}


def test_a_response_cache_of_its_own_is_bounded_by_the_outbox(redis_url: str, tmp_path: Path) -> None:
    """With ``OutboxConfig`` and a response cache on a cache of its own (``ResponseCachePluginConfig.cache_state_key``),
    that cache is attached to the outbox as the kit's are: the writer records its tags too (one row per
    namespace), and the reader's response hits wait on the drains (it replayed the response from before the
    commit for ``default_ttl``: no outbox was attached to that cache)."""
    item_id = uuid.uuid4()
    sync_url = f"sqlite:///{tmp_path / 'rc.db'}"
    db = f"sqlite+aiosqlite:///{tmp_path / 'rc.db'}"
    _seed(sync_url, _metadata(), item_id)
    namespace = f"obdb_{uuid.uuid4().hex[:8]}"
    with TestClient(make_response_app(db, redis_url, namespace)) as reader:
        _until(lambda: reader.get(f"/rc/{item_id}").headers.get("x-cache") == "hit", "a response cache hit")
        with TestClient(make_response_app(db, None, namespace)) as writer:
            assert writer.post(f"/a/{item_id}/2").status_code == 201
        # (the reader drains the writer's rows at any time now: not counted)
        time.sleep(BOUND * 1.5)
        answers = []
        for _ in range(10):
            response = reader.get(f"/rc/{item_id}")
            answers.append((response.json()["quantity"], response.headers.get("x-cache")))
            time.sleep(0.1)
    stale = [answer for answer in answers if answer[0] == 1]
    assert not stale, (
        f"{len(stale)} of {len(answers)} responses {1.5 * BOUND:.1f}s and more after the commit replayed the one from"
        f" before it (bound {BOUND}s): {stale[:3]}"
    )
