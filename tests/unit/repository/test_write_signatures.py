"""The write wrappers keep Advanced Alchemy's signatures, so users' type checkers see them."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService, SQLAlchemySyncRepositoryService

from litestar_alchemy_kit import (
    CachedAsyncRepository,
    CachedAsyncRepositoryService,
    CachedSyncRepository,
    CachedSyncRepositoryService,
)

_REPOSITORY_WRITES = (
    "add",
    "add_many",
    "delete",
    "delete_many",
    "delete_where",
    "get_and_update",
    "get_or_upsert",
    "update",
    "update_many",
    "upsert",
    "upsert_many",
)
_SERVICE_WRITES = (
    "create",
    "create_many",
    "delete",
    "delete_many",
    "delete_where",
    "get_and_update",
    "get_or_upsert",
    "update",
    "update_many",
    "upsert",
    "upsert_many",
)
PAIRS = [
    *[(CachedAsyncRepository, SQLAlchemyAsyncRepository, name) for name in _REPOSITORY_WRITES],
    *[(CachedSyncRepository, SQLAlchemySyncRepository, name) for name in _REPOSITORY_WRITES],
    *[(CachedAsyncRepositoryService, SQLAlchemyAsyncRepositoryService, name) for name in _SERVICE_WRITES],
    *[(CachedSyncRepositoryService, SQLAlchemySyncRepositoryService, name) for name in _SERVICE_WRITES],
]


def _shape(method: Any) -> list[tuple[str, Any, Any]]:
    # Annotations differ only in spelling (``Optional[X]`` vs ``X | None``, strings under
    # ``from __future__ import annotations``); mypy and pyright check the overrides' types.
    return [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]


@pytest.mark.parametrize(("ours", "theirs", "name"), PAIRS, ids=[f"{o.__name__}.{n}" for o, _, n in PAIRS])
def test_write_wrapper_has_aa_signature(ours: type, theirs: type, name: str) -> None:
    method = ours.__dict__[name]  # defined here, not inherited: it wraps AA's
    assert _shape(method) == _shape(getattr(theirs, name))
