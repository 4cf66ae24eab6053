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
    # Defined by a class of the kit (the repository's writes come from its base, GuardedWrites*Repository),
    # not inherited from AA's: it wraps AA's.
    owner = next(cls for cls in ours.__mro__ if name in cls.__dict__)
    assert owner.__module__.startswith("litestar_alchemy_kit.")
    assert _shape(owner.__dict__[name]) == _shape(getattr(theirs, name))
