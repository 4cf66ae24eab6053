"""Invariant 7: a cached entry the repository cannot rebuild is a miss, answered by the database and counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker, with_polymorphic

from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm.populate import UNDECODABLE
from litestar_alchemy_kit.repository import CachedSyncRepository


class _Base(DeclarativeBase):
    pass


class Part(_Base):
    __tablename__ = "rebuild_part"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8))
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "part"}  # noqa: RUF012


class Gear(Part):
    __tablename__ = "rebuild_gear"

    id: Mapped[int] = mapped_column(ForeignKey("rebuild_part.id"), primary_key=True)
    teeth: Mapped[int] = mapped_column(default=8)
    __mapper_args__ = {"polymorphic_identity": "gear"}  # noqa: RUF012


class PartRepository(CachedSyncRepository[Part]):
    model_type = Part


class _Recording(SyncCache):
    """Remembers the entries it stores, so that the test can overwrite one."""

    stored: list[tuple[Any, ...]]

    def set(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.stored.append((key, value, args, kwargs))
        return super().set(key, value, *args, **kwargs)


def test_an_entry_whose_rows_do_not_fit_its_keys_is_a_counted_miss(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'rebuild.sqlite'}")
    _Base.metadata.create_all(engine)
    cache = _Recording(SyncMemoryBackend(), namespace="rebuild")
    cache.stored = []
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        session.add_all([Part(id=1), Gear(id=2, teeth=12)])
        session.commit()
    poly = with_polymorphic(Part, [Gear])
    statement = select(poly).order_by(poly.id)
    with factory() as session:
        PartRepository(session=session, cache=cache).get_many(statement=statement)
    ((key, payload, args, kwargs),) = cache.stored
    assert payload[1] == [None]  # the unnamed entity's column, as SQLAlchemy's result holds it
    # an entry as written before unnamed columns were kept: no key for the entity's column
    cache.set(key, [payload[0], [], *payload[2:]], *args, **kwargs)
    with factory() as session:
        hits = cache.stats["hit"]
        rows = PartRepository(session=session, cache=cache).get_many(statement=statement)
        assert [(type(row).__name__, row.id) for row in rows] == [("Part", 1), ("Gear", 2)]
        assert cache.stats["hit"] == hits + 1
    assert cache.bypass_reasons == {UNDECODABLE: 1}
    with factory() as session:  # the database's rows replaced the entry
        assert [row.id for row in PartRepository(session=session, cache=cache).get_many(statement=statement)] == [1, 2]
    assert cache.bypass_reasons == {UNDECODABLE: 1}
    engine.dispose()
