"""The model the benchmarks measure: one product row of typical width, on a registry of its own.

It imports nothing of the kit: ``bench_ab.py`` loads it beside an older version of the kit.
"""

import datetime
import decimal
import uuid

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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


async def seed_product(db_url: str) -> uuid.UUID:
    """Create the tables at ``db_url`` and one product; its id (the HTTP benchmarks' apps serve it)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(BenchBase.metadata.create_all)
    product = Product(
        name="product 1",
        sku="SKU-00001",
        description="a fairly ordinary product description number 1",
        quantity=1,
        price=decimal.Decimal("1.99"),
        weight=0.25,
        active=True,
        category="cat-1",
        created=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    )
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        session.add(product)
        await session.commit()
    await engine.dispose()
    return product.id
