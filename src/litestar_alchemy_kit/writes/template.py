"""AA's repository ``__init__`` run once per configuration, its result reused (shared by the async and sync flavours).

A service builds its repository on every request, and AA's ``__init__`` derives the same state
each time from the class, the call's options and the session's bind: loader and execution
options, error messages, primary key columns, the dialect. When a repository is built with
nothing but plain options (the way services and providers build them), the state AA's
``__init__`` left on the first instance is remembered, keyed by everything it was derived from,
and copied onto the next ones; anything else (``load=``, options given as lists or dicts, a
statement that is not a select, a session with no single bind) runs AA's ``__init__`` as usual.

Per-instance state is never copied: the session, AA's cache manager (read from the session's
``info``), the read state, the cache scope and its token, and a statement of the caller's own (a
tenant-filtered select built per request); every dict and list is copied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Select, select

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.orm.grouping import enclose_where
from litestar_alchemy_kit.writes._state import ReadState

if TYPE_CHECKING:
    from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository

    from litestar_alchemy_kit.orm.tenancy import TenantBinding

__all__ = (
    "Template",
    "base_statement",
    "callers_statement",
    "default_select",
    "repository_defaults",
    "service_templates",
    "template_key",
    "templates",
)


class Template:
    """The state AA's ``__init__`` left on one instance, without its per-instance parts."""

    __slots__ = ("keep", "mutable", "state")

    def __init__(
        self, instance: object, before: dict[str, Any], keep: tuple[object, ...], *, own_statement: bool = False
    ) -> None:
        # what AA's __init__ set: attributes a subclass set before calling it are its own, per instance
        per_instance = _PER_INSTANCE | {"statement"} if own_statement else _PER_INSTANCE
        self.state = {
            name: value
            for name, value in vars(instance).items()
            if name not in per_instance and (name not in before or before[name] is not value)
        }
        self.mutable = tuple(name for name, value in self.state.items() if type(value) in {dict, list})
        self.keep = keep  # the objects whose id() the key holds: alive as long as the template

    def restore(self, instance: object) -> None:
        """Give ``instance`` this state, with its own copy of every dict and list, and its own read state."""
        data = vars(instance)
        data.update(self.state)
        for name in self.mutable:
            data[name] = data[name].copy()
        data["_read_state"] = ReadState()

    def share(self, name: str, value: object) -> None:
        """Give instances restored from now on ``value``, derived from this state alone (an immutable memo)."""
        self.state[name] = value


_selects: dict[type, Select[Any]] = {}


def default_select(model: type) -> Select[Any]:
    """``select(model)``, built once per model: AA's default statement, shared (statements are immutable)."""
    statement = _selects.get(model)
    if statement is None:
        statement = _selects[model] = select(model)
    return statement


def callers_statement(model: type, statement: Select[Any] | None) -> Select[Any] | None:
    """The caller's own base statement, or ``None`` for AA's default (``statement`` absent or :func:`default_select`)."""
    return None if statement is None or statement is _selects.get(model) else statement


def base_statement(model: type, tenant: TenantBinding | None, statement: Select[Any] | None) -> Select[Any]:
    """``statement`` (a repository's ``statement=``, at construction or per call) as the repository reads through it.

    Every method ANDs conditions to it (filters, a primary key, the tenant's): a bare criterion of it (raw
    SQL with ``OR``, see ``litestar_alchemy_kit.orm.grouping``) would bind to them, so its whole ``WHERE``
    is put in parentheses (it keeps the meaning it has on its own); a tenant-bound repository's (a per-call
    one's too) is then restricted to the tenant's rows.
    """
    if tenant is not None:
        return tenant.restrict(model, callers_statement(model, statement))
    return default_select(model) if statement is None else enclose_where(statement)


templates: Final[LRU[tuple[object, ...], Template]] = LRU(256)
"""The remembered states, by :func:`template_key`."""

service_templates: Final[LRU[tuple[object, ...], tuple[Template, tuple[object, ...]]]] = LRU(256)
"""The template of the repository a service builds, by what the service's arguments and class defaults are,
and the objects the key names by identity (see the services' ``__init__``)."""

# The values an argument may have in a keyed call: flags, or absent (None, AA's ``Empty`` class): with
# those, AA's class defaults decide, and the key holds them.
_PLAIN: Final = frozenset({type(None), bool, type})
# Set per instance by AA's __init__ (or the kit's), never taken from a template.
_PER_INSTANCE: Final = frozenset(
    {"session", "_cache_manager", "_read_state", "_tenant", "_cache_scope", "_scope_token", "_template"}
)


def template_key(
    repository: SQLAlchemyAsyncRepository[Any] | SQLAlchemySyncRepository[Any],
    model: type,
    bind: object,
    kwargs: dict[str, Any],
    own: tuple[object, ...],
) -> tuple[tuple[object, ...], tuple[object, ...], bool] | None:
    """What AA's ``__init__`` derives its state from, the objects the key names by identity, whether the statement is the caller's; None: run it.

    ``repository`` is the instance being built, before AA's ``__init__``: its defaults are read through
    it, as AA's ``__init__`` reads them (a subclass may set them on the instance first). ``model`` is its
    ``model_type``; ``bind`` is the session's bind (None: bound per mapper or routed, the dialect is looked up
    per call); ``kwargs`` are the arguments AA gets besides the session; ``own`` is what else the subclass
    derives its state from (hashable).

    A ``statement`` other than the model's :func:`default_select` (a tenant-filtered select built per
    request, say) is the instance's own: AA's ``__init__`` derives nothing from it, so the key says only
    that there is one, and the instance keeps its statement (see :class:`Template`).
    """
    if bind is None:
        return None
    statement: object = kwargs.get("statement")
    own_statement = statement is not None and statement is not _selects.get(model)  # looked up, never built here
    if own_statement and not _is_select(statement):
        return None
    # the statement is keyed by identity (the default) or as "the caller's own", never by value
    values = tuple(value for name, value in kwargs.items() if name != "statement")
    if not set(map(type, values)) <= _PLAIN:
        return None
    defaults, flags = repository_defaults(repository)
    keep = (None if own_statement else statement, *defaults)
    key = (type(repository), bind, tuple(kwargs), values, own_statement, *map(id, keep), *flags, *own)
    return key, keep, own_statement


def _is_select(statement: object) -> bool:
    return isinstance(statement, Select)


def repository_defaults(
    repository: type[SQLAlchemyAsyncRepository[Any] | SQLAlchemySyncRepository[Any]]
    | SQLAlchemyAsyncRepository[Any]
    | SQLAlchemySyncRepository[Any],
) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The repository defaults AA's ``__init__`` derives its state from: the objects a key names by identity, and the flags.

    Read through an instance (a subclass may set them on it before AA's ``__init__``) or through the class
    (a service keys the repository it is about to build).
    """
    defaults = (
        repository.loader_options,
        repository.execution_options,
        repository.error_messages,
        repository.prefer_any_dialects,
    )
    flags = (
        repository.uniquify,
        repository.count_with_window_function,
        repository.inherit_lazy_relationships,
        repository.merge_loader_options,
    )
    return defaults, flags
