"""A result rebuilt from cached rows answers every accessor as the database's result of the same statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.engine import Result
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from litestar_alchemy_kit.orm.populate import result_from_rows, result_keys


class _Base(DeclarativeBase):
    pass


class Row(_Base):
    __tablename__ = "result_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


_ALIAS = aliased(Row)  # an entity with no name: its result keys leave it out

ACCESSORS: dict[str, Callable[[Result[Any]], Any]] = {
    "all": lambda result: [tuple(row) for row in result.all()],
    "scalars": lambda result: result.scalars().all(),
    "first": lambda result: None if (row := result.first()) is None else tuple(row),
    "scalar": lambda result: result.scalar(),
    "scalar_one_or_none": lambda result: result.scalar_one_or_none() if len(result.keys()) else None,
    "one_or_none": lambda result: None if (row := result.one_or_none()) is None else tuple(row),
    "mappings": lambda result: [dict(row) for row in result.mappings().all()],
    "tuples": lambda result: list(result.tuples()),
    "unique scalars": lambda result: result.unique().scalars().all(),
    "keys": lambda result: list(result.keys()),
    "iterate": lambda result: [tuple(row) for row in result],
    "partitions": lambda result: [[tuple(row) for row in part] for part in result.partitions(2)],
}


@pytest.mark.parametrize("accessor", list(ACCESSORS))
@pytest.mark.parametrize(
    "statement",
    [
        select(Row).order_by(Row.id),
        select(Row).where(Row.id == 1),
        select(Row).where(Row.id == -1),
        select(Row.name).order_by(Row.id),
        select(Row, Row.name).order_by(Row.id),
        select(func.count()).select_from(Row),
        select(_ALIAS).order_by(_ALIAS.id),
        select(_ALIAS, _ALIAS.name).order_by(_ALIAS.id),
        select(_ALIAS).where(_ALIAS.id == -1),
    ],
    ids=[
        "entities",
        "one entity",
        "none",
        "one column",
        "two columns",
        "count",
        "unnamed entity",
        "unnamed entity and a column",
        "unnamed, none",
    ],
)
def test_a_rebuilt_result_answers_as_the_databases(statement: Any, accessor: str) -> None:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Row(id=1, name="a"), Row(id=2, name="b")])
        session.commit()
        read = ACCESSORS[accessor]
        live = session.execute(statement)
        keys = result_keys(live)
        rows = [tuple(row) for row in session.execute(statement).all()]
        try:
            expected: Any = read(live)
        except Exception as exc:
            with pytest.raises(type(exc)):
                read(result_from_rows(keys, rows))
        else:
            assert read(result_from_rows(keys, rows)) == expected
    engine.dispose()
