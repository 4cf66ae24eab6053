"""The typed "who is calling" value and the tenant scope derived from it."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar
from urllib.parse import quote

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from litestar_alchemy_kit.canonical import canonical_text

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

__all__ = ("AuthContext", "TenantScope")

UserT_co = TypeVar("UserT_co", covariant=True)
TokenT_co = TypeVar("TokenT_co", covariant=True)


def _encode(value: "str | None") -> str:
    # Percent-encoding never produces a bare "*", so None and every string stay distinct.
    return "*" if value is None else quote(value, safe="")


class TenantScope(NamedTuple):
    """The scope repositories, services and cache keys are partitioned by.

    An immutable, hashable tuple ``(tenant_id, subject, anonymous)``, so it can be passed as is
    wherever a plain scope value is taken (``CachedAsyncRepository(..., scope=auth.scope)``: the
    cache key builder encodes tuples canonically). :attr:`key` is its canonical encoding, for keys
    built by hand; ``str()`` is a readable form for logs and responses.
    """

    tenant_id: "str | None" = None
    """The tenant, or ``None`` for a caller that belongs to no tenant (e.g. anonymous)."""
    subject: "str | None" = None
    """The user within the tenant, for per-user scopes; ``None`` for tenant-wide scopes."""
    anonymous: bool = False
    """Whether the caller is unauthenticated; a tenant is then required with a 401, not a 403."""

    def __str__(self) -> str:
        # Encoded values never contain ";", so the suffix cannot be forged by a tenant or subject.
        suffix = ";anonymous" if self.anonymous else ""
        return f"tenant={_encode(self.tenant_id)};subject={_encode(self.subject)}{suffix}"

    @property
    def key(self) -> str:
        """The kit's canonical encoding of the tuple (injective, the same in every process and hash seed)."""
        return canonical_text(tuple(self))

    def require_tenant(self) -> str:
        """Return the tenant id.

        Raises:
            NotAuthorizedException: The scope is an anonymous caller's (a 401).
            PermissionDeniedException: The scope names no tenant (a 403).
        """
        if self.tenant_id is None:
            if self.anonymous:
                msg = "authentication required: tenant-scoped data needs an authenticated caller"
                raise NotAuthorizedException(msg)
            msg = "tenant scope required: the caller belongs to no tenant"
            raise PermissionDeniedException(msg)
        return self.tenant_id

    def tenant_filter(self, column: "ColumnElement[Any]") -> "ColumnElement[bool]":
        """A SQL filter restricting ``column`` (the model's tenant column) to this scope's tenant.

        Pass it to a repository (``repo.get_many(scope.tenant_filter(Item.tenant_id))``) or build the
        repository's base ``statement=`` with it. A scope without a tenant never matches all rows.

        Raises:
            NotAuthorizedException: The scope is an anonymous caller's (a 401).
            PermissionDeniedException: The scope names no tenant (a 403).
        """
        return column == self.require_tenant()


@dataclass(frozen=True, slots=True)
class AuthContext(Generic[UserT_co, TokenT_co]):
    """Who is calling: the user, their token or claims, tenant, roles and scopes. Immutable.

    Declare it in a handler as ``auth: AuthContext[User, Token]``: ``auth.user`` is then typed
    ``User | None`` and :meth:`require_user` returns ``User``. ``AuthContext.anonymous()`` is the
    value for callers without a credential on routes that allow anonymous access.
    """

    user: "UserT_co | None" = None
    """The authenticated user, ``None`` when anonymous."""
    token: "TokenT_co | None" = None
    """What the authentication backend put in ``scope["auth"]``: a JWT ``Token``, session data, ..."""
    tenant_id: "str | None" = None
    """The caller's tenant, ``None`` when anonymous or not in a tenant."""
    subject: "str | None" = None
    """A stable identifier of the user (a JWT ``sub``, a user id), ``None`` when unknown."""
    roles: frozenset[str] = frozenset()
    """The caller's roles."""
    scopes: frozenset[str] = frozenset()
    """The caller's OAuth-style scopes (permissions granted to the credential)."""

    @classmethod
    def anonymous(cls) -> "AuthContext[UserT_co, TokenT_co]":
        """The context of a caller without a credential."""
        return cls()

    @property
    def is_authenticated(self) -> bool:
        """Whether a user is authenticated."""
        return self.user is not None

    @property
    def is_anonymous(self) -> bool:
        """Whether the caller is anonymous."""
        return self.user is None

    @property
    def scope(self) -> TenantScope:
        """The tenant-wide scope, what tenant-shared data is partitioned by."""
        return TenantScope(tenant_id=self.tenant_id, anonymous=self.user is None)

    @property
    def user_scope(self) -> TenantScope:
        """The per-user scope (tenant and subject), for data private to one user."""
        return TenantScope(tenant_id=self.tenant_id, subject=self.subject, anonymous=self.user is None)

    def require_user(self) -> UserT_co:
        """Return the user.

        Raises:
            NotAuthorizedException: The caller is anonymous (a 401).
        """
        if self.user is None:
            msg = "authentication required"
            raise NotAuthorizedException(msg)
        return self.user

    def require_tenant(self) -> str:
        """Return the caller's tenant.

        Raises:
            NotAuthorizedException: The caller is anonymous (a 401).
            PermissionDeniedException: The caller belongs to no tenant (a 403).
        """
        self.require_user()
        return self.scope.require_tenant()

    def has_roles(self, *roles: str) -> bool:
        """Whether the caller has every one of ``roles``."""
        return self.roles.issuperset(roles)

    def has_any_role(self, *roles: str) -> bool:
        """Whether the caller has at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)

    def has_scopes(self, *scopes: str) -> bool:
        """Whether the credential grants every one of ``scopes``."""
        return self.scopes.issuperset(scopes)

    def has_any_scope(self, *scopes: str) -> bool:
        """Whether the credential grants at least one of ``scopes``."""
        return not self.scopes.isdisjoint(scopes)
