"""Argument pass-through for wrappers that keep their parent's exact signature.

The cached repository's and service's write methods repeat AA's signatures, so type checkers
see them, and forward with ``super().method(**passthrough(locals()))``. It sits below every
layer and imports nothing from the kit.
"""

from typing import Any

__all__ = ("passthrough",)


def passthrough(arguments: dict[str, Any], star: str = "") -> dict[str, Any]:
    """A wrapper's keyword arguments to its parent method, from its ``locals()`` taken first thing.

    Drops ``self``, the ``__class__`` cell of ``super()`` and the ``*star`` parameter (passed
    positionally by the caller), and spreads ``**kwargs``.
    """
    extra: dict[str, Any] = arguments.get("kwargs", {})
    named = {name: value for name, value in arguments.items() if name not in {"self", "__class__", "kwargs", star}}
    return {**named, **extra}
