"""Every private member of Advanced Alchemy the kit overrides or calls, with the signature it expects.

An AA release that renames, removes or reshapes one of them breaks the kit in ways its own type
checks cannot see (AA's private API carries no stability promise). :func:`problems` compares
this list with the installed AA, and ``tests/unit/test_aa_compat.py`` fails on any difference, in
one place, naming the member.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Final, cast

from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository

__all__ = ("FUNCTIONS", "REPOSITORY_ATTRIBUTES", "REPOSITORY_METHODS", "problems")

REPOSITORY_METHODS: Final[dict[str, tuple[str, ...]]] = {
    # overridden by the cached repositories
    "_execute": ("self", "statement", "uniquify"),
    "_expunge": ("self", "instance", "auto_expunge"),
    # called by the get(pk) shortcut to build exactly the statement AA's get() runs
    "_get_base_stmt": ("statement", "loader_options", "execution_options"),  # a staticmethod
    "_get_loader_options": ("self", "loader_options"),
    "_get_execution_options": ("self", "execution_options"),
    "_build_pk_filter": ("self", "pk_value"),
    # overridden: the criteria a call's filters add are parenthesized where they would render bare
    "_apply_filters": ("self", "filters", "apply_pagination", "statement"),
    "_filter_select_by_kwargs": ("self", "statement", "kwargs"),
    # called by upsert_many of a tenant-bound repository, once after its rows
    "_flush_or_commit": ("self", "auto_commit"),
    # overridden for a tenant-bound repository: the bulk statements by key also match the tenant, and every
    # existing row AA merges is stamped with it
    "_get_update_many_statement": ("self", "model_type", "supports_returning", "loader_options", "execution_options"),
    "_get_delete_many_statement": (
        "self",
        "model_type",
        "id_attribute",
        "id_chunk",
        "supports_returning",
        "statement_type",
        "loader_options",
        "execution_options",
    ),
    "_attach_to_session": ("self", "model", "strategy", "load"),
    # called by delete_many of a tenant-bound repository for composite primary keys
    "_normalize_pk_values_to_tuples": ("self", "item_ids"),
}
"""Methods of ``SQLAlchemyAsyncRepository`` / ``SQLAlchemySyncRepository`` and their parameter names."""

REPOSITORY_ATTRIBUTES: Final = (
    "_dialect",  # read: the dialect a statement is fingerprinted for
    "_uniquify",
    "_default_loader_options",
    "_default_execution_options",
    "_bind_group",  # the get(pk) shortcut only serves the default bind group
    "_cache_manager",  # written: AA's own cache is switched off
)
"""Instance attributes the repositories' ``__init__`` sets, read or written by the cached repositories."""

FUNCTIONS: Final[dict[str, tuple[str, ...]]] = {
    # errors.commit reads the session AA's Litestar plugin stored in the ASGI scope
    "advanced_alchemy.extensions.litestar._utils:get_aa_scope_state": ("scope", "key", "default", "pop"),
}
"""Private functions (``module:name``) and their parameter names."""


def _parameters(member: object) -> tuple[str, ...]:
    return tuple(inspect.signature(member).parameters)  # type: ignore[arg-type]


def problems() -> list[str]:
    """What differs between the installed AA and the members listed here (empty: all present, same shapes)."""
    found: list[str] = []
    classes = cast("tuple[type, ...]", (SQLAlchemyAsyncRepository, SQLAlchemySyncRepository))
    for cls in classes:
        for name, expected in REPOSITORY_METHODS.items():
            member: object = getattr(cls, name, None)
            if member is None:
                found.append(f"{cls.__name__}.{name} is missing")
            elif _parameters(member) != expected:
                found.append(f"{cls.__name__}.{name} takes {_parameters(member)}, expected {expected}")
        init_source = inspect.getsource(cls.__dict__["__init__"])
        found.extend(
            f"{cls.__name__}.__init__ no longer sets self.{name}"
            for name in REPOSITORY_ATTRIBUTES
            if re.search(rf"\bself\.{name}\b", init_source) is None
        )
    for path, expected in FUNCTIONS.items():
        module_name, _, name = path.partition(":")
        try:
            function: object = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            found.append(f"{path} is missing")
            continue
        if _parameters(function) != expected:
            found.append(f"{path} takes {_parameters(function)}, expected {expected}")
    return found
