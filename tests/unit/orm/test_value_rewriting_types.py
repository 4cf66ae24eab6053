"""A tenant or key column whose type rewrites values on their way to the database gets no fine tags.

A subclass of ``String`` or ``Integer`` may change a value in ``bind_processor`` or ``bind_expression``
(tenant slugs stored lower-cased, say): two Python values then name one database value, and tags
rendered from the Python values would miss each other's writes.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Integer, String, Text, Uuid, create_engine, func, select
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.finetags import type_kind
from litestar_alchemy_kit.orm.statement import StatementInfo, analyze
from litestar_alchemy_kit.repository import CachedSyncRepository, bind_cache
from tests.unit.orm._bumps import recording_cache


class LoweredOnBind(String):
    """Case-insensitive slugs: lower-cased by the driver-side bind processor."""

    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        del dialect
        return lambda value: None if value is None else value.lower()


class LoweredInSql(String):
    """Case-insensitive slugs: lower-cased by SQL around every bound value."""

    cache_ok = True

    def bind_expression(self, bindvalue: BindParameter[Any]) -> ColumnElement[Any]:
        return func.lower(bindvalue)


class PlainSubclass(Integer):
    """Overrides nothing, but nothing tells it apart from one that does: refused all the same."""

    cache_ok = True


class Base(DeclarativeBase):
    pass


class OnBind(Base):
    __tablename__ = "vr_on_bind"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = tenant_column(LoweredOnBind(20))


class InSql(Base):
    __tablename__ = "vr_in_sql"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = tenant_column(LoweredInSql(20))


@pytest.mark.parametrize(
    "type_", [LoweredOnBind(20), LoweredInSql(20), PlainSubclass()], ids=lambda t: type(t).__name__
)
def test_a_type_defined_outside_sqlalchemy_has_no_exact_kind(type_: Any) -> None:
    assert type_kind(type_) is None
    assert type_kind(Column("x", type_).type) is None


@pytest.mark.parametrize(
    ("type_", "kind"),
    [
        (Integer(), "i"),
        (BigInteger(), "i"),
        (mysql.INTEGER(unsigned=True), "i"),
        (String(20), "s"),
        (Text(), "s"),
        (postgresql.TEXT(), "s"),
        (Uuid(), "u"),
    ],
    ids=["integer", "bigint", "mysql-integer", "string", "text", "postgresql-text", "uuid"],
)
def test_sqlalchemy_s_own_types_keep_their_kind(type_: Any, kind: str) -> None:
    assert type_kind(type_) == kind


@pytest.mark.parametrize("model", [OnBind, InSql], ids=["bind_processor", "bind_expression"])
def test_a_read_of_a_rewritten_tenant_is_no_partition_read(model: Any) -> None:
    info = analyze(select(model).where(model.tenant == "Acme"), dialect=postgresql.dialect())
    assert isinstance(info, StatementInfo)
    coarse = f"t:{model.__tablename__}"
    assert set(info.tags) == {coarse, f"{coarse}:any"}


@pytest.mark.parametrize("model", [OnBind, InSql], ids=["bind_processor", "bind_expression"])
def test_a_row_of_the_same_tenant_spelled_otherwise_invalidates_the_list(model: Any) -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    cache, _ = recording_cache()
    repo_type = type("Repo", (CachedSyncRepository,), {"model_type": model})

    def listed(*, use_cache: bool = True) -> list[int]:
        with Session(engine, expire_on_commit=False) as session:
            bind_cache(session, cache)
            repo = repo_type(session=session, cache=cache, auto_expunge=True)
            return sorted(row.id for row in repo.get_many(model.tenant == "Acme", use_cache=use_cache))

    try:
        with Session(engine) as session:
            session.add(model(id=1, tenant="Acme"))
            session.commit()
        assert listed() == [1]
        assert listed() == [1]
        assert cache.stats["hit"] == 1, "the list is cached"
        with Session(engine) as session:
            bind_cache(session, cache)
            session.add(model(id=2, tenant="acme"))  # the same tenant in the database
            session.commit()
        assert listed(use_cache=False) == [1, 2]
        assert listed() == [1, 2]
    finally:
        engine.dispose()
