"""Typed auth context, optional authentication, guards and tenant scope."""

from litestar_alchemy_kit.auth.config import AuthConfig
from litestar_alchemy_kit.auth.context import AuthContext, TenantScope
from litestar_alchemy_kit.auth.guards import (
    DeclaredGuard,
    has_any_role,
    has_any_scope,
    has_role,
    has_scope,
    requires_authentication,
    same_tenant,
)
from litestar_alchemy_kit.auth.optional import OPTIONAL, REQUIRED, optional_authentication
from litestar_alchemy_kit.auth.plugin import AuthPlugin, get_auth_context

__all__ = (
    "OPTIONAL",
    "REQUIRED",
    "AuthConfig",
    "AuthContext",
    "AuthPlugin",
    "DeclaredGuard",
    "TenantScope",
    "get_auth_context",
    "has_any_role",
    "has_any_scope",
    "has_role",
    "has_scope",
    "optional_authentication",
    "requires_authentication",
    "same_tenant",
)
