"""An app whose model has a column type SQLAlchemy cannot cache safely (``cache audit`` must fail on it)."""

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from litestar import Litestar
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin


class Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Shouting(TypeDecorator[str]):
    """No ``cache_ok``: SQLAlchemy cannot tell whether two instances compile alike."""

    impl = String(50)

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        return None if value is None else value.upper()


class Label(UUIDPrimaryKey, Base):
    __tablename__ = "lak_unsafe_label"

    text: Mapped[str] = mapped_column(Shouting())


app = Litestar(
    plugins=[
        AlchemyKitPlugin(AlchemyKitConfig(connection_string="sqlite+aiosqlite:///:memory:", metadata=Base.metadata))
    ]
)
