"""The tenant-owned table of the auth integration tests (its own MetaData)."""

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.repository import CachedAsyncRepository


class AuthTestBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Note(UUIDPrimaryKey, AuthTestBase):
    __tablename__ = "lak_auth_note"

    tenant_id: Mapped[str] = mapped_column(String(50), index=True)
    title: Mapped[str] = mapped_column(String(100))


class NoteRepository(CachedAsyncRepository[Note]):
    model_type = Note
