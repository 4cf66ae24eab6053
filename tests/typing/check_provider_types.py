# pyright: strict
"""Type-checked, never run: services and filters built by providers keep their types, with no casts.

``tests/unit/providers/test_typing.py`` runs mypy and pyright (strict) on this module and requires zero errors.
"""

from collections.abc import AsyncGenerator, Callable, Generator, Sequence

from advanced_alchemy.filters import FilterTypes
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from typing_extensions import assert_type

from litestar_alchemy_kit.auth import TenantScope
from litestar_alchemy_kit.providers import (
    AsyncServiceContext,
    SyncServiceContext,
    create_service_dependencies,
    create_service_provider,
)
from tests.integration.providers.models import Note, NoteService, SyncNoteService

provide_notes = create_service_provider(NoteService, scope="tenant")
assert_type(provide_notes, Callable[..., AsyncGenerator[NoteService, None]])

provide_sync_notes = create_service_provider(SyncNoteService, scope="tenant")
assert_type(provide_sync_notes, Callable[..., Generator[SyncNoteService, None, None]])

dependencies = create_service_dependencies(
    NoteService, "notes", scope="tenant", filters={"pagination_type": "limit_offset"}
)
assert_type(dependencies, dict[str, Provide])


@get("/notes")
async def list_notes(notes: NamedDependency[NoteService], filters: NamedDependency[list[FilterTypes]]) -> list[str]:
    found, total = await notes.get_many_and_count(*filters)
    assert_type(found, Sequence[Note])
    assert_type(total, int)
    note = await notes.get(found[0].id)
    assert_type(note, Note)
    return [item.title for item in found]


async def in_a_worker(app: Litestar) -> str:
    async with AsyncServiceContext.from_app(app, scope=TenantScope("acme")) as context:
        notes = context.service(NoteService)
        assert_type(notes, NoteService)
        found = await notes.get_one_or_none(title="from a worker")
        assert_type(found, Note | None)
        assert_type(await notes.count(), int)
        return "" if found is None else found.title


def in_a_sync_worker(app: Litestar) -> str:
    with SyncServiceContext.from_app(app, scope=TenantScope("acme")) as context:
        notes = context.service(SyncNoteService)
        assert_type(notes, SyncNoteService)
        return notes.get_one(title="x").title
