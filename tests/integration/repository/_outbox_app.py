"""An application composed with ``AlchemyKitPlugin`` and its outbox, run as a reader (in the test) or a writer process.

Usage as the writer: ``python -m tests.integration.repository._outbox_app '<json config>'``: it starts the app,
updates one row through a cached repository (the commit goes through although the store cannot be reached: its
invalidation goes to the outbox) and is killed with SIGKILL right after the commit, before anything else runs.
"""

import json
import os
import signal
import sys
from typing import Any
from uuid import UUID

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, AsyncCache, CacheOptions, OutboxConfig
from litestar_alchemy_kit.cache import CachePluginConfig
from tests.integration.repository._async import ItemRepository
from tests.integration.repository.models import Item

BIND_KEY = "lak_outbox_app"


@get("/items/{item_id:uuid}")
async def read_item(
    item_id: FromPath[UUID], db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache]
) -> dict[str, int]:
    item = await ItemRepository(session=db_session, cache=cache).get(item_id)
    return {"quantity": item.quantity, "hits": cache.stats["hit"]}


@post("/items/{item_id:uuid}/{quantity:int}")
async def write_then_crash(
    item_id: FromPath[UUID],
    quantity: FromPath[int],
    db_session: NamedDependency[AsyncSession],
    cache: NamedDependency[AsyncCache],
) -> None:
    await ItemRepository(session=db_session, cache=cache).update(Item(id=item_id, quantity=quantity), auto_commit=True)
    os.kill(os.getpid(), signal.SIGKILL)  # committed; the process dies before anything else runs


def app_metadata() -> MetaData:
    """The application's own metadata: the test table (a copy), and the outbox table once the plugin adds it."""
    metadata = MetaData()
    Item.__table__.to_metadata(metadata)
    return metadata


def make_app(config: dict[str, Any]) -> Litestar:
    """The app; ``config``: ``db_url``, ``store_url`` (``None``: a port nobody listens on), ``namespace``,
    ``bound`` and ``interval`` (the outbox's staleness bound and drain interval)."""
    if config["store_url"] is None:
        from tests._backends import free_port

        client = Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    else:
        client = Redis.from_url(config["store_url"], socket_timeout=2.0)
    alchemy = SQLAlchemyAsyncConfig(
        connection_string=config["db_url"],
        metadata=app_metadata(),
        bind_key=BIND_KEY,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    kit = AlchemyKitConfig(
        alchemy=alchemy,
        cache=CachePluginConfig(
            namespace=config["namespace"], options=CacheOptions(commit_policy="available", timeout=0.5)
        ),
        outbox=OutboxConfig(staleness_bound=config["bound"], drain_interval=config["interval"]),
        response_cache=None,
        cli=False,
    )
    return Litestar(
        [read_item, write_then_crash],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": RedisStore(client, namespace=None)},
    )


def main(config: dict[str, Any]) -> None:
    from litestar.testing import TestClient

    with TestClient(make_app(config)) as client:
        client.post(f"/items/{config['item_id']}/{config['quantity']}")
    sys.exit("the writer was not killed after its commit")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
