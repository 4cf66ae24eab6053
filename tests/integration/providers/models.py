"""Tenant-owned and shared models of the providers tests (their own MetaData)."""

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import AuditColumns, UUIDPrimaryKey
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository
from litestar_alchemy_kit.service import CachedAsyncRepositoryService, CachedSyncRepositoryService


class ProvidersBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Note(UUIDPrimaryKey, AuditColumns, ProvidersBase):
    __tablename__ = "lak_provider_note"

    # The one declaration: filter, stamp and cache scope all come from it.
    tenant_id: Mapped[str] = tenant_column(String(64))
    title: Mapped[str] = mapped_column(String(100))


class Topic(UUIDPrimaryKey, ProvidersBase):
    """Shared data: no tenant column."""

    __tablename__ = "lak_provider_topic"

    name: Mapped[str] = mapped_column(String(100))


class UndeclaredNote(UUIDPrimaryKey, ProvidersBase):
    """A tenant column nobody declared: tenant-scoped providers must refuse it."""

    __tablename__ = "lak_provider_undeclared_note"

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(100))


class NoteRepository(CachedAsyncRepository[Note]):
    model_type = Note


class NoteService(CachedAsyncRepositoryService[Note, NoteRepository]):
    repository_type = NoteRepository


class SyncNoteRepository(CachedSyncRepository[Note]):
    model_type = Note


class SyncNoteService(CachedSyncRepositoryService[Note, SyncNoteRepository]):
    repository_type = SyncNoteRepository


class TopicRepository(CachedAsyncRepository[Topic]):
    model_type = Topic


class TopicService(CachedAsyncRepositoryService[Topic, TopicRepository]):
    repository_type = TopicRepository


class UndeclaredNoteRepository(CachedAsyncRepository[UndeclaredNote]):
    model_type = UndeclaredNote


class UndeclaredNoteService(CachedAsyncRepositoryService[UndeclaredNote, UndeclaredNoteRepository]):
    repository_type = UndeclaredNoteRepository
