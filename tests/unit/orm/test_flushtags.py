"""What a flushed unit of work bumps when the database writes beyond the values the session holds.

An UPDATE that rewrites the tenant column itself leaves no old value in the session; on SQLite, a conflict
clause ``REPLACE`` makes an INSERT or UPDATE delete the rows it collides with. Either way the rows or
partitions the write touched are not known, so the table's coarse tag is bumped (real SQLite databases).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import Computed, FetchedValue, PrimaryKeyConstraint, String, UniqueConstraint, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from litestar_alchemy_kit.cache import SyncCache
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.repository import CachedSyncRepository, bind_cache
from tests.unit.orm._bumps import recording_cache

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy import Engine


@pytest.fixture
def bound(tmp_path: Any) -> Iterator[Callable[..., tuple[Any, SyncCache, list[set[str]]]]]:
    """``bound(base, *ddl)``: sessions on a SQLite file with ``base``'s tables (and ``ddl``), bound to a cache
    that records its bumps.
    """
    engines: list[Engine] = []

    def make(base: type[DeclarativeBase], *ddl: str) -> tuple[Any, SyncCache, list[set[str]]]:
        engine = create_engine(f"sqlite:///{tmp_path}/db.sqlite")
        engines.append(engine)
        base.metadata.create_all(engine)
        with engine.begin() as conn:
            for statement in ddl:
                conn.exec_driver_sql(statement)
        cache, bumped = recording_cache()
        sessions = sessionmaker(engine, expire_on_commit=False)
        bind_cache(sessions, cache)
        return sessions, cache, bumped

    yield make
    for engine in engines:
        engine.dispose()


def _rewritten_tenant(kind: str) -> tuple[type[Any], tuple[str, ...]]:
    """A model whose tenant an UPDATE rewrites (the org's hundred), and the DDL that makes the database do it."""

    class Rewritten(DeclarativeBase):
        pass

    ddl: tuple[str, ...] = ()
    if kind == "computed":
        rewritten: Any = tenant_column(Computed("org - org % 100"))
    elif kind == "server-onupdate":  # a trigger, declared
        rewritten = tenant_column(server_onupdate=FetchedValue())
        trigger = (
            "CREATE TRIGGER ft_moved AFTER UPDATE OF org ON ft_moved BEGIN "
            "UPDATE ft_moved SET tenant = NEW.org - NEW.org % 100 WHERE id = NEW.id; END"
        )
        ddl = (trigger,)
    else:  # a Python onupdate: the org the UPDATE writes (tenant 0 when it writes none)
        rewritten = tenant_column(onupdate=lambda context: context.get_current_parameters().get("org", 0) // 100 * 100)

    class Moved(Rewritten):
        __tablename__ = "ft_moved"
        __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's mapper arguments

        id: Mapped[int] = mapped_column(primary_key=True)
        org: Mapped[int]
        tenant: Mapped[int] = rewritten
        title: Mapped[str] = mapped_column(String(20), default="")

    return Moved, ddl


@pytest.mark.parametrize("kind", ["computed", "server-onupdate", "python-onupdate"])
def test_a_partition_value_the_update_rewrites_bumps_the_coarse_tag(bound: Any, kind: str) -> None:
    """An UPDATE that rewrites the tenant column leaves no old value in the session: which partition the row left is
    not known, and the old partition's lists must not keep serving it (``eager_defaults`` reads the new value back).
    """
    model, ddl = _rewritten_tenant(kind)
    sessions, cache, bumped = bound(model, *ddl)
    table = "t:ft_moved"

    class Moves(CachedSyncRepository[Any]):
        model_type = model

    def listed(tenant: int) -> list[int]:
        with sessions() as session:
            return [row.id for row in Moves(session=session, cache=cache).get_many(model.tenant == tenant)]

    stamped = {} if kind == "computed" else {"tenant": 100}  # a computed column is not written
    with sessions() as session:
        session.add_all([model(id=1, org=101, **stamped), model(id=2, org=102, **stamped)])
        session.commit()
    if kind == "computed":
        assert bumped[-1] == {f"{table}:any", f"{table}:row=i1", f"{table}:row=i2", f"{table}:part=i100"}, (
            "an insert reads its computed tenant back: fine"
        )
    assert listed(100) == listed(100) == [1, 2]
    assert listed(200) == listed(200) == []
    hits = cache.stats["hit"]
    with sessions() as session:
        moved = session.get(model, 1)
        assert moved is not None
        moved.org = 201
        session.commit()
        # SQLite's RETURNING reports the row before AFTER triggers ran: there the session knows neither partition
        assert moved.tenant == (100 if kind == "server-onupdate" else 200), "the value read back"
    assert table in bumped[-1]
    assert listed(100) == [2], "the partition the row left"
    assert listed(200) == [1]
    assert cache.stats["hit"] == hits
    with sessions() as session:
        doomed = session.get(model, 2)
        assert doomed is not None
        session.delete(doomed)
        session.commit()
    assert bumped[-1] == {f"{table}:any", f"{table}:row=i2", f"{table}:part=i100"}, "a delete rewrites nothing: fine"


def test_a_partition_value_set_over_an_onupdate_stays_fine(bound: Any) -> None:
    """A Python ``onupdate`` does not run for a column the UPDATE sets: the session holds both values."""
    model, _ = _rewritten_tenant("python-onupdate")
    sessions, _, bumped = bound(model)
    with sessions() as session:
        session.add(model(id=1, org=101, tenant=100))
        session.commit()
        row = session.get(model, 1)
        assert row is not None
        row.tenant = 300
        session.commit()
    assert bumped[-1] == {"t:ft_moved:any", "t:ft_moved:row=i1", "t:ft_moved:part=i100", "t:ft_moved:part=i300"}


def _replacing(spelling: str) -> type[Any]:
    """A tenant-owned model whose SQLite conflict clause ``REPLACE`` is declared as ``spelling`` says."""

    class Replacing(DeclarativeBase):
        pass

    # names the class body does not assign: it looks them up in this function's scope
    on_id: dict[str, Any] = {"sqlite_on_conflict_primary_key": "REPLACE"} if spelling == "column-primary-key" else {}
    on_slug: dict[str, Any] = (
        {"unique": True, "sqlite_on_conflict_unique": "replace"} if spelling == "column-unique" else {}
    )
    on_tenant: dict[str, Any] = (
        {"sqlite_on_conflict_not_null": "REPLACE", "server_default": "1"} if spelling == "not-null" else {}
    )
    args = {
        "constraint-unique": (UniqueConstraint("slug", sqlite_on_conflict="REPLACE"),),
        "constraint-primary-key": (PrimaryKeyConstraint("id", sqlite_on_conflict="REPLACE"),),
    }.get(spelling, ())

    class Note(Replacing):
        __tablename__ = "ft_replacing"
        __table_args__ = args

        id: Mapped[int] = mapped_column(primary_key=True, **on_id)
        tenant_id: Mapped[int | None] = tenant_column(**on_tenant)
        slug: Mapped[str] = mapped_column(String(20), **on_slug)

    return Note


@pytest.mark.parametrize(
    ("spelling", "collision"),
    [
        ("constraint-unique", {"slug": "a"}),
        ("constraint-primary-key", {"id": 1}),
        ("column-primary-key", {"id": 1}),
        ("column-unique", {"slug": "a"}),
    ],
)
def test_writes_that_replace_rows_on_sqlite_bump_the_coarse_tag(
    bound: Any, spelling: str, collision: dict[str, Any]
) -> None:
    """``ON CONFLICT REPLACE``: an INSERT or UPDATE deletes the rows it collides with, rows the flush never saw."""
    model = _replacing(spelling)
    sessions, cache, bumped = bound(model)
    table = "t:ft_replacing"

    class Notes(CachedSyncRepository[Any]):
        model_type = model

    def listed(tenant: int) -> list[int]:
        with sessions() as session:
            return [row.id for row in Notes(session=session, cache=cache).get_many(model.tenant_id == tenant)]

    def got(item_id: int) -> str | None:
        with sessions() as session:
            try:
                return str(Notes(session=session, cache=cache).get(item_id).slug)
            except NotFoundError:
                return None

    with sessions() as session:
        session.add_all([model(id=1, tenant_id=1, slug="a"), model(id=2, tenant_id=1, slug="b")])
        session.commit()
    assert listed(1) == listed(1) == [1, 2]
    assert got(1) == got(1) == "a"
    with sessions() as session:  # an INSERT into tenant 2 that replaces tenant 1's row 1
        session.add(model(**{"id": 3, "slug": "c", **collision, "tenant_id": 2}))
        session.commit()
    assert table in bumped[-1]
    assert listed(1) == [2], "the replaced row left tenant 1"
    assert got(1) == (None if "slug" in collision else "c")
    with sessions() as session:  # an UPDATE colliding with row 2: replaces it
        changed = session.get(model, 3 if "slug" in collision else 1)
        assert changed is not None
        if "slug" in collision:
            changed.slug = "b"
        else:
            changed.id = 2
        session.commit()
    assert table in bumped[-1]
    assert listed(1) == []
    with sessions() as session:
        doomed = session.get(model, 3 if "slug" in collision else 2)
        assert doomed is not None
        session.delete(doomed)
        session.commit()
    assert table not in bumped[-1], "a delete replaces nothing: fine"


def test_a_null_the_database_replaces_with_the_default_bumps_the_coarse_tag(bound: Any) -> None:
    """``NOT NULL ON CONFLICT REPLACE`` on the tenant column: the NULL the flush writes is stored as the default."""
    model = _replacing("not-null")
    sessions, cache, bumped = bound(model)

    class Notes(CachedSyncRepository[Any]):
        model_type = model

    def listed(tenant: int) -> list[int]:
        with sessions() as session:
            return [row.id for row in Notes(session=session, cache=cache).get_many(model.tenant_id == tenant)]

    with sessions() as session:
        session.add_all([model(id=1, tenant_id=1, slug="a"), model(id=2, tenant_id=2, slug="b")])
        session.commit()
        assert listed(1) == listed(1) == [1]
        moved = session.get(model, 2)
        assert moved is not None
        moved.tenant_id = None  # stored as 1
        session.commit()
    assert "t:ft_replacing" in bumped[-1]
    assert listed(1) == [1, 2]
