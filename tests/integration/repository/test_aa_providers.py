"""Regression: caching through AA's own Litestar plugin and service providers is on, and invalidates.

AA 1.12's providers build services with ``Service.new(session=...)``, passing no cache: its own
cache is silently off there. A cached service takes the cache its session is bound to, so binding
AA's session maker once is enough.
"""

from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Litestar, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.repository import bind_cache
from tests.integration.repository._async import ItemService
from tests.integration.repository.models import RepoBase

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite, pytest.mark.memory_store]


@get("/items")
async def list_items(items_service: NamedDependency[ItemService]) -> list[str]:
    return sorted(item.name for item in await items_service.get_many())


@post("/items")
async def add_item(items_service: NamedDependency[ItemService], data: JSONBody[dict[str, Any]]) -> str:
    created = await items_service.create({"name": data["name"], "quantity": 0, "tenant": "a"})
    return created.name


async def test_services_from_aa_providers_are_cached_and_invalidated(tmp_path: Path) -> None:
    config = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'providers.db'}",
        metadata=RepoBase.metadata,
        create_all=True,
        before_send_handler="autocommit",
        session_config=AsyncSessionConfig(expire_on_commit=False),
    )
    cache = AsyncCache(MemoryStore(), namespace="providers")
    bind_cache(config.create_session_maker(), cache)
    app = Litestar(
        [list_items, add_item],
        plugins=[SQLAlchemyPlugin(config)],
        dependencies={"items_service": Provide(create_service_provider(ItemService))},
    )
    async with AsyncTestClient(app) as client:
        assert (await client.post("/items", json={"name": "a"})).status_code == 201
        assert (await client.get("/items")).json() == ["a"]
        hits = cache.stats["hit"]
        assert (await client.get("/items")).json() == ["a"]
        assert cache.stats["hit"] == hits + 1, "the provider-built service must read through the cache"
        assert (await client.post("/items", json={"name": "b"})).status_code == 201
        assert (await client.get("/items")).json() == ["a", "b"], "the autocommit of the request must invalidate"


async def test_commit_guard_and_autocommit_invalidate_once(tmp_path: Path) -> None:
    """The errors package's commit guard commits, then AA's autocommit handler commits again.

    The second ``after_commit`` has nothing pending: it must neither bump nor fail, and the
    request's write must have been invalidated by the first.
    """
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from litestar_alchemy_kit.errors import ErrorsConfig, ErrorsPlugin

    config = SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'guard.db'}",
        metadata=RepoBase.metadata,
        create_all=True,
        before_send_handler="autocommit",
        session_config=AsyncSessionConfig(expire_on_commit=False),
    )
    cache = AsyncCache(MemoryStore(), namespace="guard")
    bumped: list[list[str]] = []
    deliver = cache.bump

    async def recording_bump(tags: Any, marker: str | None = None) -> bool:
        tags = sorted(tags)
        bumped.append(tags)
        return await deliver(tags, marker=marker)

    cache.bump = recording_bump  # type: ignore[method-assign]
    bind_cache(config.create_session_maker(), cache)
    commits: list[int] = []

    def count_commit(session: Session) -> None:
        commits.append(id(session))

    app = Litestar(
        [list_items, add_item],
        plugins=[SQLAlchemyPlugin(config), ErrorsPlugin(ErrorsConfig(commit_before_response=True))],
        dependencies={"items_service": Provide(create_service_provider(ItemService))},
    )
    event.listen(Session, "after_commit", count_commit)
    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/items")).json() == []
            assert (await client.get("/items")).json() == []  # warm
            commits.clear()
            bumped.clear()  # create_all's DDL at startup bumps every table
            response = await client.post("/items", json={"name": "a"})
            assert response.status_code == 201, response.text
            assert len(commits) == 2, "the guard and AA's handler should both have committed"
            assert [tags[0] for tags in bumped] == ["t:lak_repo_item:any"], "one bump, by the commit that had the write"
            assert (await client.get("/items")).json() == ["a"]
            assert (await client.post("/items", json={"name": "b"})).status_code == 201
            assert [tags[0] for tags in bumped] == ["t:lak_repo_item:any"] * 2
            assert (await client.get("/items")).json() == ["a", "b"]
    finally:
        event.remove(Session, "after_commit", count_commit)
