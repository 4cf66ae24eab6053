"""Demo models, on a metadata of their own: tenants (shared) and their notes (tenant-owned)."""

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import AuditColumns, UUIDPrimaryKey
from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.orm import tenant_column


class Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Tenant(UUIDPrimaryKey, Base):
    """A workspace; the directory of workspaces is public."""

    __tablename__ = "demo_tenant"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Note(UUIDPrimaryKey, AuditColumns, Base):
    """A note of one tenant: its tenant column is declared once, here."""

    __tablename__ = "demo_note"

    tenant_id: Mapped[str] = tenant_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
