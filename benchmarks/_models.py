"""The model both benchmarks measure: one product row of typical width, on a registry of its own."""

import datetime
import decimal

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.orm import tenant_column


class BenchBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Product(UUIDPrimaryKey, BenchBase):
    __tablename__ = "lak_bench_product"

    name: Mapped[str] = mapped_column(String(60))
    sku: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    weight: Mapped[float]
    active: Mapped[bool]
    category: Mapped[str] = mapped_column(String(30))
    created: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))


class TenantRow(UUIDPrimaryKey, BenchBase):
    """A row of a table that tenants share: its tenant column is declared once."""

    __tablename__ = "lak_bench_tenant_row"

    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(60))
    value: Mapped[int]
