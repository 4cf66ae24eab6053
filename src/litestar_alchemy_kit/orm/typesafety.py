"""Detection of column types that make SQLAlchemy's statement cache unsafe.

SQLAlchemy keys compiled statements by each type's ``_static_cache_key``, which holds only the
attributes named like ``__init__`` parameters. A type whose behaviour depends on other state
(Advanced Alchemy's ``GUID(binary=...)`` takes ``*args, **kwargs`` so ``binary`` is never keyed)
makes two different statements share one compiled form: whichever compiles first decides how
the other binds its parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql.type_api import ExternalType, TypeDecorator, TypeEngine
from sqlalchemy.util import NoneType

__all__ = (
    "cache_ok_flag",
    "impl_differs_from_default",
    "instance_unkeyed_state",
    "is_descriptor",
    "keyed_attribute_names",
    "unkeyed_state",
)

_UNKEYED_BY_CLASS: dict[type[Any], tuple[str, ...]] = {}


def cache_ok_flag(type_class: type[Any]) -> bool | None:
    """Return the ``cache_ok`` flag exactly as SQLAlchemy reads it: from the class's own namespace.

    A subclass that does not redeclare ``cache_ok`` is uncacheable even if its parent set it.

    Args:
        type_class: A ``TypeDecorator`` / ``UserDefinedType`` subclass.

    Returns:
        ``True``, ``False`` or ``None`` (not declared).
    """
    value = type_class.__dict__.get("cache_ok", None)
    return None if value is None else bool(value)


def keyed_attribute_names(type_: TypeEngine[Any]) -> frozenset[str]:
    """Attribute names that appear in ``type_._static_cache_key``.

    Args:
        type_: A type instance whose class declares ``cache_ok = True``.

    Returns:
        The keyed attribute names (empty when the type produces no key).
    """
    key: Any = type_._static_cache_key  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    if not isinstance(key, tuple):
        return frozenset()
    return frozenset(
        item[0]  # pyright: ignore[reportUnknownArgumentType]
        for item in key[1:]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(item, tuple) and item and isinstance(item[0], str)
    )


def is_descriptor(cls: type[Any], name: str) -> bool:
    """Whether ``name`` is a descriptor on the class (memoized property, event dispatcher), not constructor state.

    Args:
        cls: The class.
        name: Attribute name.

    Returns:
        True for descriptors.
    """
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return hasattr(klass.__dict__[name], "__get__")
    return False


def instance_unkeyed_state(type_: TypeEngine[Any]) -> tuple[str, ...]:
    """Public attributes of this instance missing from its cache key (no memo; see :func:`unkeyed_state`).

    Args:
        type_: A type instance whose class declares ``cache_ok = True``.

    Returns:
        Sorted attribute names.
    """
    keyed = keyed_attribute_names(type_)
    cls = type(type_)
    return tuple(
        sorted(
            name
            for name, value in vars(type_).items()
            # ``impl`` is the decorated type, compared separately by the audit; None means "unset";
            # names the class defines as descriptors are memoized caches (impl_instance, dispatch), not state
            if not name.startswith("_")
            and name != "impl"
            and name not in keyed
            and not isinstance(value, NoneType)
            and not is_descriptor(cls, name)
        )
    )


def unkeyed_state(type_: TypeEngine[Any]) -> tuple[str, ...]:
    """Public instance attributes of a third-party type that are missing from its cache key.

    Only ``TypeDecorator`` / ``UserDefinedType`` classes with ``cache_ok = True`` are examined:
    SQLAlchemy's own types key their state correctly, and types without ``cache_ok = True``
    never produce a key at all. The verdict is memoized per class (first instance seen), so the
    hot path pays a dict lookup.

    Args:
        type_: A type instance.

    Returns:
        Sorted attribute names; empty when the type is safe.
    """
    cls = type(type_)
    cached = _UNKEYED_BY_CLASS.get(cls)
    if cached is not None:
        return cached
    result: tuple[str, ...] = ()
    if isinstance(type_, ExternalType) and cache_ok_flag(cls):
        result = instance_unkeyed_state(type_)
    _UNKEYED_BY_CLASS[cls] = result
    return result


def impl_differs_from_default(type_: TypeEngine[Any]) -> bool:
    """Whether a ``TypeDecorator`` instance carries an ``impl`` built with non-default arguments.

    ``impl`` is never part of the cache key, so ``MyString(50)`` and ``MyString(100)`` share one.

    Args:
        type_: A type instance.

    Returns:
        True when the instance ``impl`` differs from the class default.
    """
    if not isinstance(type_, TypeDecorator) or "impl" not in vars(type_):
        return False
    impl: Any = vars(type_)["impl"]
    default: Any = type(type_).impl  # pyright: ignore[reportUnknownMemberType]
    if isinstance(default, type):
        try:
            default = default()
        except TypeError:
            return True
    return bool(
        type(impl) is not type(default) or impl._static_cache_key != default._static_cache_key  # pyright: ignore[reportUnknownMemberType]  # noqa: SLF001
    )
