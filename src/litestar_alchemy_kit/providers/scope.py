"""Scope policies: who a provided service's data is for, decided from the caller or given explicitly.

The SQL filter and the cache scope both come from one place: the model's tenant column, declared
once with :func:`~litestar_alchemy_kit.orm.partition.tenant_column`, bound to the tenant of the
scope. A policy only says which tenant (and subject) the caller is.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from litestar.exceptions import PermissionDeniedException

from litestar_alchemy_kit.auth.context import AuthContext, TenantScope
from litestar_alchemy_kit.orm.partition import tenant_column_of

__all__ = ("ScopePolicy", "ServiceBinding", "binding_for", "check_policy", "scope_of")

ScopePolicy: TypeAlias = "Literal['shared', 'tenant', 'user'] | Callable[[AuthContext[Any, Any]], TenantScope | None]"
"""How a provider scopes its service:

- ``"shared"``: data that belongs to no tenant (the model must declare no tenant column);
- ``"tenant"``: the caller's tenant (``auth.scope``): 401 when anonymous, 403 without a tenant;
- ``"user"``: the caller's tenant and subject (``auth.user_scope``): entries are also per user;
- a callable of the :class:`~litestar_alchemy_kit.auth.AuthContext` returning the
  :class:`~litestar_alchemy_kit.auth.TenantScope` to use (``None``: shared).
"""


@dataclass(frozen=True, slots=True)
class ServiceBinding:
    """What a service is constructed with: the tenant its repository is bound to, and extra cache scope."""

    tenant: str | None = None
    """The tenant of the model's declared tenant column (``None``: not bound)."""
    scope: object = None
    """Cache scope beyond the tenant (the subject of per-user scopes), or ``None``."""


def _model_of(service_type: type[Any]) -> type[Any]:
    model: type[Any] = service_type.repository_type.model_type
    return model


def check_policy(service_type: type[Any], policy: "ScopePolicy") -> None:
    """Refuse, when the provider is created, a policy that cannot be right for the service's model.

    Raises:
        TypeError: ``"tenant"``/``"user"`` on a model that declares no tenant column.
        ValueError: ``"shared"`` on a model that declares one (it would serve every tenant's rows),
            or an unknown policy name.
    """
    if callable(policy):
        return
    if policy not in {"shared", "tenant", "user"}:
        msg = f"unknown scope policy {policy!r}: use 'shared', 'tenant', 'user' or a callable of the AuthContext"
        raise ValueError(msg)
    model = _model_of(service_type)
    column = tenant_column_of(model)
    if policy == "shared" and column is not None:
        msg = (
            f"{model.__name__} declares the tenant column {column.name!r}: a shared provider of "
            f"{service_type.__name__} would serve every tenant's rows; use scope='tenant'"
        )
        raise ValueError(msg)
    if policy != "shared" and column is None:
        msg = (
            f"scope={policy!r} needs a tenant column on {model.__name__}: declare it once with "
            "litestar_alchemy_kit.orm.tenant_column()"
        )
        raise TypeError(msg)


def scope_of(policy: "ScopePolicy", auth: AuthContext[Any, Any] | None) -> TenantScope | None:
    """The scope ``policy`` gives the caller ``auth`` (``None``: shared).

    Raises:
        PermissionDeniedException: ``"user"`` for a caller without a subject (a 403).
    """
    if policy == "shared" or auth is None:
        return None
    if policy == "tenant":
        return auth.scope
    if policy == "user":
        if auth.is_authenticated and auth.subject is None:
            msg = "user scope required: the caller has no subject"
            raise PermissionDeniedException(msg)
        return auth.user_scope
    return policy(auth)


def binding_for(service_type: type[Any], scope: TenantScope | None) -> ServiceBinding:
    """How to construct ``service_type`` for ``scope``, from its model's one tenant declaration.

    Raises:
        NotAuthorizedException: the model is tenant-owned and the scope is anonymous (a 401).
        PermissionDeniedException: the model is tenant-owned and the scope names no tenant (a 403).
        ValueError: no scope (shared) for a tenant-owned model.
    """
    model = _model_of(service_type)
    column = tenant_column_of(model)
    if scope is None:
        if column is not None:
            msg = f"{model.__name__} is tenant-owned (column {column.name!r}): a service of it needs a tenant scope"
            raise ValueError(msg)
        return ServiceBinding()
    if column is None:
        # No tenant column: the scope partitions the cache only (e.g. data a custom statement filters).
        return ServiceBinding(scope=scope)
    tenant = scope.require_tenant()
    return ServiceBinding(tenant=tenant, scope=None if scope.subject is None else ("subject", scope.subject))
