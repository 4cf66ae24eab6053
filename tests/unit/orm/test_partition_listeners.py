"""The partition reads listen to the writes of tenant-owned mappers only.

AA's ``upsert_many`` takes its ORM path for a mapper with insert or update listeners: listening to every
mapper would turn every model's native upserts into unit-of-work writes.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ForeignKey, String, create_engine, event, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    column_property,
    configure_mappers,
    mapped_column,
    relationship,
)

from litestar_alchemy_kit.orm import install_listeners, tenant_column
from litestar_alchemy_kit.repository import bind_cache
from tests.unit.orm._bumps import recording_cache


class _Base(DeclarativeBase):
    pass


class _Plain(_Base):
    __tablename__ = "lak_listeners_plain"

    id: Mapped[int] = mapped_column(primary_key=True)


class _Owned(_Base):
    __tablename__ = "lak_listeners_owned"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()


class _Labelled(_Base):
    """A tenant-owned parent with a read-only property, which every flush that saves the row expires."""

    __tablename__ = "lak_listeners_labelled"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(20))
    label = column_property(name + "!")
    children: Mapped[list[_Child]] = relationship()


class _Child(_Base):
    __tablename__ = "lak_listeners_child"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("lak_listeners_labelled.id"))


def test_only_tenant_owned_mappers_get_write_listeners() -> None:
    configure_mappers()
    install_listeners()

    class Later(_Base):  # configured after the listeners were installed
        __tablename__ = "lak_listeners_later"

        id: Mapped[int] = mapped_column(primary_key=True)
        tenant: Mapped[int] = tenant_column()

    configure_mappers()
    for model in (_Owned, Later):
        mapper = inspect(model)
        assert mapper.dispatch.before_update
        assert mapper.dispatch.after_update
        assert mapper.dispatch.before_delete
    plain = inspect(_Plain)
    assert not plain.dispatch.before_insert
    assert not plain.dispatch.after_insert
    assert not plain.dispatch.before_update
    assert not plain.dispatch.after_update


def test_a_row_saved_without_a_write_is_not_read_though_its_read_only_property_expires() -> None:
    """Parents whose only change is a child appended are not written: neither read back nor their partitions
    bumped, though the flush expires their read-only ``column_property`` (not a column the UPDATE writes)."""
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    cache, bumped = recording_cache()
    statements: list[str] = []
    with Session(engine, expire_on_commit=False) as session:
        bind_cache(session, cache)
        session.add_all([_Labelled(id=index, tenant=index, name="p") for index in (1, 2, 3)])
        session.commit()
        parents = [session.get(_Labelled, index) for index in (1, 2, 3)]
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        bumped.clear()
        for parent in parents:
            assert parent is not None
            assert parent.label == "p!"
            parent.name = "p"
            parent.children.append(_Child())
        session.commit()
    engine.dispose()
    assert not [statement for statement in statements if "FROM lak_listeners_labelled" in statement], statements
    assert not [tag for tag in bumped.pop() if tag.startswith("t:lak_listeners_labelled:part=")]


def _saved(session: Session, cache: Any, *, tenant: int) -> _Labelled:
    """Row 1 of ``tenant``, committed by ``session`` (bound to ``cache``) and held by it."""
    bind_cache(session, cache)
    session.add(_Labelled(id=1, tenant=tenant, name="p"))
    session.commit()
    row = session.get(_Labelled, 1)
    assert row is not None
    return row


def test_a_flush_that_fails_leaves_nothing_recorded() -> None:
    """What a flush records for its rows (tenants read, attributes expired) is dropped when the flush fails, as
    after one that succeeds: it would hold the flush's instance states, and keep recording expiries, until the
    session's next flush."""
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    cache, _ = recording_cache()
    with Session(engine, expire_on_commit=False) as session:
        row = _saved(session, cache, tenant=1)
        row.name = "q"
        session.add(_Labelled(id=2, tenant=1, name=None))  # NOT NULL: the flush fails after the UPDATE of row 1
        with pytest.raises(IntegrityError):
            session.flush()
        leftovers = [key for key in session.info if "partition" in key]
        session.rollback()
        session.expire(row, ["name"])
        assert leftovers == []
        assert [key for key in session.info if "partition" in key] == []
    engine.dispose()


@pytest.mark.parametrize("how", ["savepoint", "savepoint-rolled-back", "bulk-insert"])
def test_a_transaction_ending_inside_a_flush_keeps_what_it_read(how: str) -> None:
    """A listener of the application that writes during the flush (an audit row, say) in a SAVEPOINT (released
    or rolled back), or with ``bulk_insert_mappings`` (a subtransaction of its own), does not end the flush: the
    partitions read for its rows still name their tags (not the table's coarse tag)."""
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    cache, bumped = recording_cache()

    def audit(mapper: Any, connection: Any, target: _Labelled) -> None:
        session = Session.object_session(target)
        assert session is not None
        if how == "savepoint":
            with session.begin_nested():
                session.execute(text("SELECT 1"))
        elif how == "savepoint-rolled-back":
            savepoint = session.begin_nested()
            session.execute(text("SELECT 1"))
            savepoint.rollback()
        else:
            session.bulk_insert_mappings(_Child, [{"id": 99}])

    with Session(engine, expire_on_commit=False) as session:
        row = _saved(session, cache, tenant=4)
        bumped.clear()
        event.listen(_Labelled, "after_update", audit)
        try:
            row.name = "q"
            session.commit()
        finally:
            event.remove(_Labelled, "after_update", audit)
    engine.dispose()
    assert {tag for tag in bumped.pop() if tag.startswith("t:lak_listeners_labelled")} == {
        "t:lak_listeners_labelled:any",
        "t:lak_listeners_labelled:row=i1",
        "t:lak_listeners_labelled:part=i4",
    }
