"""Guards: authenticated, roles, scopes and tenant membership.

A caller without a (valid) identity gets :class:`~litestar.exceptions.NotAuthorizedException`
(401); an identified caller lacking the right gets
:class:`~litestar.exceptions.PermissionDeniedException` (403). Both are Litestar's own exceptions,
so the app's error contract renders them.

Every guard here carries ``raises``, the exception classes it can raise, which the errors plugin
reads (through its ``DeclaresProblems`` protocol, without either package importing the other) to
document the 401 and 403 responses of the operations it guards.
"""

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import ImproperlyConfiguredException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from litestar_alchemy_kit.auth.context import AuthContext
from litestar_alchemy_kit.auth.plugin import get_auth_context

__all__ = (
    "DeclaredGuard",
    "has_any_role",
    "has_any_scope",
    "has_role",
    "has_scope",
    "requires_authentication",
    "same_tenant",
)

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]

_ANONYMOUS = (NotAuthorizedException,)
_ANONYMOUS_OR_DENIED = (NotAuthorizedException, PermissionDeniedException)


class DeclaredGuard:
    """A guard that says which exceptions it raises (``raises``), so the OpenAPI document can list them."""

    __slots__ = ("__name__", "_check", "raises")

    def __init__(self, check: Guard, name: str, raises: tuple[type[Exception], ...]) -> None:
        self._check = check
        self.__name__ = name
        self.raises = raises
        """The exception classes the guard can raise."""

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Run the check; it raises to refuse."""
        self._check(connection, handler)

    def __repr__(self) -> str:
        return f"<guard {self.__name__}>"


def _authenticated(connection: ASGIConnection[Any, Any, Any, Any]) -> AuthContext[Any, Any]:
    context = get_auth_context(connection)
    context.require_user()
    return context


def _require_authentication(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    _authenticated(connection)


requires_authentication = DeclaredGuard(_require_authentication, "requires_authentication", _ANONYMOUS)
"""Refuse anonymous callers (401); use on optional-auth routes that still need a user."""


def _require(*values: str, kind: str, every: bool) -> DeclaredGuard:
    if not values:
        msg = f"a {kind} guard needs at least one {kind}"
        raise ImproperlyConfiguredException(msg)
    wanted = tuple(values)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        context = _authenticated(connection)
        held = context.roles if kind == "role" else context.scopes
        granted = held.issuperset(wanted) if every else not held.isdisjoint(wanted)
        if not granted:
            quantifier = "all" if every else "any"
            msg = f"{kind} required: {quantifier} of {', '.join(sorted(wanted))}"
            raise PermissionDeniedException(msg)

    return DeclaredGuard(guard, f"has_{'' if every else 'any_'}{kind}({', '.join(wanted)})", _ANONYMOUS_OR_DENIED)


def has_role(*roles: str) -> DeclaredGuard:
    """A guard requiring every one of ``roles`` (401 when anonymous, 403 when missing one)."""
    return _require(*roles, kind="role", every=True)


def has_any_role(*roles: str) -> DeclaredGuard:
    """A guard requiring at least one of ``roles``."""
    return _require(*roles, kind="role", every=False)


def has_scope(*scopes: str) -> DeclaredGuard:
    """A guard requiring the credential to grant every one of ``scopes``."""
    return _require(*scopes, kind="scope", every=True)


def has_any_scope(*scopes: str) -> DeclaredGuard:
    """A guard requiring the credential to grant at least one of ``scopes``."""
    return _require(*scopes, kind="scope", every=False)


def same_tenant(path_param: str = "tenant_id") -> DeclaredGuard:
    """A guard requiring the tenant in path parameter ``path_param`` to be the caller's own.

    Compares string forms, so ``{tenant_id:uuid}`` and ``{tenant_id:str}`` both work. 401 when
    anonymous, 403 when the caller has no tenant or another one.
    """

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if path_param not in connection.path_params:
            msg = f"same_tenant guard on {handler.handler_name}: the path has no parameter {path_param!r}"
            raise ImproperlyConfiguredException(msg)
        caller_tenant = _authenticated(connection).require_tenant()
        if str(connection.path_params[path_param]) != caller_tenant:
            msg = "tenant mismatch: the resource belongs to another tenant"
            raise PermissionDeniedException(msg)

    return DeclaredGuard(guard, f"same_tenant({path_param})", _ANONYMOUS_OR_DENIED)
