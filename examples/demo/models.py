"""Demo models, on a metadata of their own."""

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Item(UUIDPrimaryKey, Base):
    __tablename__ = "demo_item"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    price_cents: Mapped[int]
