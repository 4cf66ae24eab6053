# pyright: strict
"""Type-checked, never run: a service with one type argument, AA's usual form, checks clean in strict mode.

``tests/unit/test_service_typing.py`` runs mypy and pyright (strict) on this module and requires zero errors.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from typing_extensions import assert_type

from litestar_alchemy_kit.service import CachedAsyncRepositoryService, CachedSyncRepositoryService
from tests.integration.providers.models import Note, NoteRepository, SyncNoteRepository


class NoteService(CachedAsyncRepositoryService[Note]):
    repository_type = NoteRepository


class SyncNoteService(CachedSyncRepositoryService[Note]):
    repository_type = SyncNoteRepository


async def read(session: AsyncSession, sync_session: Session) -> None:
    service = NoteService(session)
    assert_type(await service.get(1), Note)
    assert_type(service.repository, Any)  # the repository type variable's default, as in AA
    assert_type(SyncNoteService(sync_session).get(1), Note)
