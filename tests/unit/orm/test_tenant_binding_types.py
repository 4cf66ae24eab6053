"""A tenant id given as text (an auth context's) is bound as its tenant column's integer or UUID value."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.tenancy import TenantBinding

ORG = uuid.UUID("8c5b3a2e-1f0d-4c8b-9a7e-6d5c4b3a2f1e")


class Base(DeclarativeBase):
    pass


class IntOwned(Base):
    __tablename__ = "tb_int"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()


class UuidOwned(Base):
    __tablename__ = "tb_uuid"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[uuid.UUID] = tenant_column(Uuid())


class StrOwned(Base):
    __tablename__ = "tb_str"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = tenant_column(String(20))


def test_text_is_bound_as_the_columns_type() -> None:
    assert TenantBinding.of(IntOwned, "7").value == 7
    assert TenantBinding.of(IntOwned, 7).value == 7
    assert TenantBinding.of(IntOwned, "7").scope == TenantBinding.of(IntOwned, 7).scope  # one tenant, one cache scope
    assert TenantBinding.of(UuidOwned, str(ORG)).value == ORG
    assert TenantBinding.of(StrOwned, "007").value == "007"  # a string column keeps the text as it is


@pytest.mark.parametrize(("model", "what"), [(IntOwned, "an integer"), (UuidOwned, "a UUID")])
def test_text_that_is_no_value_of_the_column_is_refused(model: type[Base], what: str) -> None:
    with pytest.raises(ValueError, match=rf"{model.__name__} needs {what} tenant id .*'acme'"):
        TenantBinding.of(model, "acme")
