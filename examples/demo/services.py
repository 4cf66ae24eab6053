"""The demo's cached services: one per model, nothing else to write."""

from examples.demo.models import Note, Tenant
from litestar_alchemy_kit import CachedAsyncRepository, CachedAsyncRepositoryService


class NoteRepository(CachedAsyncRepository[Note]):
    model_type = Note


class NoteService(CachedAsyncRepositoryService[Note, NoteRepository]):
    repository_type = NoteRepository


class TenantRepository(CachedAsyncRepository[Tenant]):
    model_type = Tenant


class TenantService(CachedAsyncRepositoryService[Tenant, TenantRepository]):
    repository_type = TenantRepository
