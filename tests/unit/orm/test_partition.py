"""The tenant column declaration: found from the model or its table, at most one per table."""

from __future__ import annotations

import pytest
from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.orm import TENANT_INFO_KEY, tenant_column, tenant_column_of


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "partition_note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = tenant_column(String(64), info={"other": 1})


class Plain(Base):
    __tablename__ = "partition_plain"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))


def test_declared_column_is_found_from_model_and_table() -> None:
    column = Note.__table__.c.tenant_id
    assert tenant_column_of(Note) is column
    assert tenant_column_of(Note.__table__) is column
    assert column.info == {"other": 1, TENANT_INFO_KEY: True}
    assert column.nullable is False
    assert column.index is True


def test_undeclared_model_has_no_tenant_column() -> None:
    assert tenant_column_of(Plain) is None


def test_two_declared_columns_are_refused() -> None:
    class Twice(Base):
        __tablename__ = "partition_twice"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        a: Mapped[str] = tenant_column(String(8))
        b: Mapped[str] = tenant_column(String(8))

    with pytest.raises(TypeError, match="more than one tenant column: a, b"):
        tenant_column_of(Twice)
