"""Deprecated aliases kept for one release, served by a module's ``__getattr__``.

It sits below every layer and imports nothing from the kit.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ("REMOVED_IN", "deprecated_aliases")

REMOVED_IN = "0.3"
"""The release that drops every alias listed today."""


def deprecated_aliases(module: str, aliases: Mapping[str, tuple[str, object, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves ``old name -> (new name, object, why)`` with a DeprecationWarning."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - it is the module's __getattr__
        alias = aliases.get(name)
        if alias is None:
            msg = f"module {module!r} has no attribute {name!r}"
            raise AttributeError(msg)
        new_name, target, why = alias
        warnings.warn(
            f"{module}.{name} is deprecated and will be removed in {REMOVED_IN}: use {new_name} ({why})",
            DeprecationWarning,
            stacklevel=2,
        )
        return target

    return __getattr__
