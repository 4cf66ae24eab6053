"""Argument pass-through of the cached services' write wrappers (shared by the async and sync flavours)."""

from typing import Any

__all__ = ("passthrough",)


def passthrough(arguments: dict[str, Any], star: str = "") -> dict[str, Any]:
    """A wrapper's keyword arguments to its parent method, from its ``locals()`` taken first thing.

    Drops ``self``, the ``__class__`` cell of ``super()`` and the ``*star`` parameter (passed
    positionally by the caller), and spreads ``**kwargs``. (The repository has its own copy: no
    package imports another's private module.)
    """
    extra: dict[str, Any] = arguments.get("kwargs", {})
    named = {name: value for name, value in arguments.items() if name not in {"self", "__class__", "kwargs", star}}
    return {**named, **extra}
