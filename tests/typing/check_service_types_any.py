# pyright: strict
"""Negative control for ``check_service_types``: every ``expect-error`` line must be reported.

It proves the checkers see through a one-argument service: its results are the model (a wrong type is
reported), and its repository is the type variable's default, ``Any`` (not the class the service names).
"""

from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import assert_type

from litestar_alchemy_kit.service import CachedAsyncRepositoryService
from tests.integration.providers.models import Note, NoteRepository


class NoteService(CachedAsyncRepositoryService[Note]):
    repository_type = NoteRepository


async def misread(session: AsyncSession) -> None:
    service = NoteService(session)
    assert_type(await service.get(1), str)  # expect-error: get returns a Note
    assert_type(service.repository, NoteRepository)  # expect-error: the repository is Any with one type argument
