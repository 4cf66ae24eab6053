"""Recording a read whose parameters are passed beside the statement."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, create_engine, select
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from litestar_alchemy_kit.orm import record_queries, tenant_column


class _Base(DeclarativeBase):
    pass


class _Note(_Base):
    __tablename__ = "lak_recording_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()


def test_a_partition_passed_beside_the_statement_is_not_taken_from_the_statement() -> None:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    with Session(engine) as session, record_queries() as recorder:
        session.scalars(select(_Note).where(_Note.tenant == bindparam("t", 1)), {"t": 2}).all()
    assert recorder.refused is None
    assert "t:lak_recording_note:part=i1" not in recorder.tags
    assert "t:lak_recording_note:any" in recorder.tags


def test_a_select_with_many_parameter_sets_is_refused() -> None:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    # the driver refuses it too, after the recorder has
    with Session(engine) as session, record_queries() as recorder, pytest.raises(ProgrammingError):
        session.execute(select(_Note).where(_Note.tenant == bindparam("t")), [{"t": 1}, {"t": 2}])
    assert recorder.refused == "select executed with many parameter sets"
