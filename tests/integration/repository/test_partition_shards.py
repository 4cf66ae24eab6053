"""A sharded session's flush reads each written row's tenant on the shard that holds the row.

``partitionread`` reads back, in one statement, the rows whose UPDATEs kept their tenant. One flush of a
``ShardedSession`` writes one mapper's rows on several connections: each shard's rows must be read on
that shard, or a row is not found (its table's coarse tag bumped: every list of every tenant stale) or,
where keys repeat across shards, found with another shard's tenant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.ext.horizontal_shard import ShardedSession
from sqlalchemy.orm import Session, sessionmaker

from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.repository import CachedSyncRepository, bind_cache
from tests.integration.repository.models import Project, RepoBase

pytestmark = pytest.mark.integration


class ProjectRepository(CachedSyncRepository[Project]):
    model_type = Project


def _shard_of(mapper: Any, instance: Any, clause: Any = None) -> str:
    return "one" if instance.name.startswith("one") else "two"


def _every_shard(*args: Any, **kwargs: Any) -> list[str]:
    return ["one", "two"]


def _names(engine: Any, cache: SyncCache, tenant: int, *, hit: bool) -> list[str]:
    with Session(engine) as session:
        before = cache.stats["hit"]
        found = ProjectRepository(session=session, cache=cache).get_many(Project.tenant == tenant)
        assert (cache.stats["hit"] == before + 1) is hit, f"tenant {tenant}'s list: expected hit={hit}"
        return sorted(project.name for project in found)


@pytest.mark.parametrize("returning", [False, True], ids=["read-back", "returned"])
def test_each_shard_reads_its_own_rows(tmp_path: Path, returning: bool) -> None:
    """One flush renames two rows on each shard: each shard's two are read back in one statement, on it.

    ``returned``: SQLite's UPDATE returns the tenant of a row SQLAlchemy updates alone, and a pair it runs as one
    ``executemany`` (adjacent in the unit of work's order, which the random keys decide) is read back: at most one
    read per shard, and every row's partition known either way.
    """
    shards = {name: create_engine(f"sqlite:///{tmp_path / name}.db") for name in ("one", "two")}
    for engine in shards.values():
        RepoBase.metadata.create_all(engine)
        if not returning:
            engine.dialect.update_returning = False  # the read-back path, whatever the order of the rows
    store = SyncMemoryBackend()
    writer_cache, reader = SyncCache(store, namespace="shards"), SyncCache(store, namespace="shards")
    factory = sessionmaker(
        class_=ShardedSession,
        shards=shards,
        shard_chooser=_shard_of,
        identity_chooser=_every_shard,
        execute_chooser=_every_shard,
        expire_on_commit=False,
    )
    bind_cache(factory, writer_cache)
    with factory() as session:
        session.add_all(
            [
                Project(name="one-a", tenant=1),
                Project(name="one-b", tenant=1),
                Project(name="one-kept", tenant=5),
                Project(name="two-c", tenant=2),
                Project(name="two-d", tenant=2),
            ]
        )
        session.commit()
    for tenant, engine in ((1, shards["one"]), (5, shards["one"]), (2, shards["two"])):
        _names(engine, reader, tenant, hit=False)
        _names(engine, reader, tenant, hit=True)
    selects: dict[str, list[str]] = {name: [] for name in shards}
    listeners = []
    for name, engine in shards.items():

        def capture(*args: Any, found: list[str] = selects[name]) -> None:
            if args[2].lstrip().upper().startswith("SELECT") and "FROM lak_repo_project" in args[2]:  # not the catalog
                found.append(args[2])

        event.listen(engine, "before_cursor_execute", capture)
        listeners.append((engine, capture))
    with factory() as session:
        written = [session.get(Project, project.id) for project in session.query(Project).all()]
        selects["one"].clear()
        selects["two"].clear()
        for project in written:
            assert project is not None
            if project.tenant != 5:
                project.name = f"{project.name}-renamed"
        session.commit()
    for engine, capture in listeners:
        event.remove(engine, "before_cursor_execute", capture)
    if returning:
        assert len(selects["one"]) <= 1 and len(selects["two"]) <= 1, "at most one read per shard"
    else:
        assert [len(selects["one"]), len(selects["two"])] == [1, 1], "one read of both rows per shard, on that shard"
    assert _names(shards["one"], reader, 1, hit=False) == ["one-a-renamed", "one-b-renamed"]
    assert _names(shards["two"], reader, 2, hit=False) == ["two-c-renamed", "two-d-renamed"]
    assert _names(shards["one"], reader, 5, hit=True) == ["one-kept"], "no coarse bump: every row was read"
    for engine in shards.values():
        engine.dispose()
