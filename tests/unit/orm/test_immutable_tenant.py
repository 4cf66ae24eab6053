"""``tenant_column(immutable=True)``: rows never change tenant, so a write trusts the session's value."""

from __future__ import annotations

from typing import Any

import pytest
from advanced_alchemy.exceptions import IntegrityError
from sqlalchemy import String, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.repository import bind_cache
from tests.unit.orm._bumps import recording_cache


class _Base(DeclarativeBase):
    pass


class _Fixed(_Base):
    __tablename__ = "lak_immutable_fixed"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column(immutable=True)
    name: Mapped[str] = mapped_column(String(20))


class _Untenanted(_Base):
    __tablename__ = "lak_immutable_untenanted"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class _Movable(_Base):
    __tablename__ = "lak_immutable_movable"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(20))


@pytest.fixture
def recorded() -> Any:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    cache, bumped = recording_cache()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    session = Session(engine, expire_on_commit=False)
    bind_cache(session, cache)
    yield session, bumped, statements
    session.close()
    engine.dispose()


def _saved(session: Session, row_id: int, model: Any = _Fixed) -> Any:
    """A committed row of tenant 7, named "a", as the session holds it."""
    session.add(model(id=row_id, tenant=7, name="a"))
    session.commit()
    row = session.get(model, row_id)
    assert row is not None
    return row


@pytest.mark.parametrize(("model", "returns"), [(_Fixed, False), (_Movable, True)], ids=["immutable", "may-move"])
def test_an_immutable_tenant_is_not_read_back(recorded: Any, model: Any, returns: bool) -> None:
    """An immutable tenant is trusted: neither read after the UPDATE nor returned by it (SQLite returns a movable one)."""
    session, bumped, statements = recorded
    table = model.__tablename__
    row = _saved(session, 1, model)
    statements.clear()
    bumped.clear()
    row.name = "b"
    session.commit()
    # reads of the row (the catalog query a table's first UPDATE on an engine makes is not one)
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT") and f"FROM {table}" in sql]
    assert selects == [], statements
    (update,) = [statement for statement in statements if statement.lstrip().upper().startswith("UPDATE")]
    assert (" RETURNING " in update.upper()) is returns, update
    assert bumped.pop() == {f"t:{table}:any", f"t:{table}:row=i1", f"t:{table}:part=i7"}


def test_an_immutable_tenant_refuses_a_change_and_writes_nothing(recorded: Any) -> None:
    session, _, _ = recorded
    row = _saved(session, 2)
    row.tenant = 8
    row.name = "b"
    with pytest.raises(IntegrityError, match=r"lak_immutable_fixed\.tenant is declared immutable"):
        session.commit()
    session.rollback()
    with Session(session.get_bind()) as other:
        assert other.execute(select(_Fixed.tenant, _Fixed.name).where(_Fixed.id == 2)).one() == (7, "a")


def test_an_immutable_tenant_set_to_the_value_it_has_is_no_change(recorded: Any) -> None:
    """Code that copies every field onto a row (a DTO) assigns the tenant it already has: that is not a change."""
    session, bumped, _ = recorded
    row = _saved(session, 3)
    bumped.clear()
    row.tenant = 7
    row.name = "b"
    session.commit()
    with Session(session.get_bind()) as other:
        assert other.execute(select(_Fixed.tenant, _Fixed.name).where(_Fixed.id == 3)).one() == (7, "b")
    assert bumped.pop() == {
        "t:lak_immutable_fixed:any",
        "t:lak_immutable_fixed:row=i3",
        "t:lak_immutable_fixed:part=i7",
    }


@pytest.mark.parametrize("model", [_Fixed, _Movable], ids=["immutable", "may-move"])
def test_a_row_switch_bumps_the_coarse_tag(recorded: Any, model: Any) -> None:
    """A deleted row and a new one with its key, in one flush: SQLAlchemy UPDATEs the stored row (a row switch).

    The deleted instance is not written and nothing is read before the UPDATE, so the tenant the row left is
    not known: the table's coarse tag is bumped, immutable tenant or not (the new row is another row: no refusal).
    """
    session, bumped, _ = recorded
    table = model.__tablename__
    row = _saved(session, 4, model)
    bumped.clear()
    session.delete(row)
    session.add(model(id=4, tenant=8, name="b"))
    session.commit()
    with Session(session.get_bind()) as other:
        assert other.execute(select(model.tenant, model.name).where(model.id == 4)).one() == (8, "b")
    assert f"t:{table}" in bumped.pop()


def test_a_later_listener_writing_an_unchanged_row_bumps_its_partition(recorded: Any) -> None:
    """A row assigned the values it has is not written when the kit's listener runs; an application listener
    registered later then stamps it, and its UPDATE runs: its partition (the session's: immutable) is bumped."""
    session, bumped, _ = recorded
    row = _saved(session, 5)
    bumped.clear()

    def stamp(mapper: Any, connection: Any, target: _Fixed) -> None:
        target.name = "stamped"

    event.listen(_Fixed, "before_update", stamp)
    try:
        row.name = "a"
        session.commit()
    finally:
        event.remove(_Fixed, "before_update", stamp)
    with Session(session.get_bind()) as other:
        assert other.execute(select(_Fixed.name).where(_Fixed.id == 5)).scalar_one() == "stamped"
    assert "t:lak_immutable_fixed:part=i7" in bumped.pop()


def test_a_row_switch_of_a_table_without_a_tenant_keeps_fine_tags(recorded: Any) -> None:
    """With no partition to lose, a row switch bumps what an update of the row does: its row tag, not the table's."""
    session, bumped, _ = recorded
    session.add(_Untenanted(id=6, name="a"))
    session.commit()
    row = session.get(_Untenanted, 6)
    bumped.clear()
    session.delete(row)
    session.add(_Untenanted(id=6, name="b"))
    session.commit()
    assert bumped.pop() == {"t:lak_immutable_untenanted:any", "t:lak_immutable_untenanted:row=i6"}
