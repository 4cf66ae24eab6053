"""Smoke-test models: AA mixins on a metadata of their own, so no other test's tables leak in."""

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class SmokeBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Widget(UUIDPrimaryKey, SmokeBase):
    __tablename__ = "lak_smoke_widget"

    name: Mapped[str] = mapped_column(String(50), unique=True)
    quantity: Mapped[int] = mapped_column(default=0)
