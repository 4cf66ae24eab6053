"""Dependency providers of cached, scoped services, in the style of Advanced Alchemy's.

AA's ``create_service_provider`` hands a service the request's session and nothing else. These
providers also give it the app's cache and the caller's scope: a tenant-owned model's repository
is bound to the caller's tenant (every read filtered, every write stamped, the cache scope keyed),
decided by a :data:`~litestar_alchemy_kit.providers.ScopePolicy`.
"""

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any, overload

from advanced_alchemy.extensions.litestar.providers import (
    DEPENDENCY_DEFAULTS,
    DependencyDefaults,
    create_filter_dependencies,
)
from advanced_alchemy.filters import OrderBy
from advanced_alchemy.utils.dependencies import FilterConfig, resolve_filter_aliases
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ValidationException
from litestar.params import SkipValidation
from sqlalchemy import inspect as inspect_model
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from litestar_alchemy_kit.auth.context import AuthContext
from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.providers._typing import AsyncServiceT, SyncServiceT
from litestar_alchemy_kit.providers.scope import ScopePolicy, binding_for, check_policy, scope_of
from litestar_alchemy_kit.service import CachedAsyncRepositoryService, CachedSyncRepositoryService

__all__ = ("ProviderKeys", "ServiceDependency", "create_service_dependencies", "create_service_provider")


@dataclass(frozen=True)
class ProviderKeys:
    """The dependency keys a provider's signature asks for; the defaults are the kit's and AA's defaults."""

    session: str = "db_session"
    """The request's session (AA's ``session_dependency_key``)."""
    cache: str | None = "cache"
    """The app's :class:`~litestar_alchemy_kit.cache.AsyncCache` (``CachePluginConfig.dependency_key``), asked
    for by async providers; ``None``: the cache the session is bound to. Sync services always use the
    :class:`~litestar_alchemy_kit.cache.SyncCache` bound to their session maker."""
    auth: str = "auth"
    """The caller's :class:`~litestar_alchemy_kit.auth.AuthContext` (``AuthConfig.auth_dependency_key``);
    asked for only by scoped providers."""

    def __post_init__(self) -> None:
        keys = [key for key in (self.session, self.cache, self.auth) if key is not None]
        if len(set(keys)) != len(keys):
            msg = f"provider dependency keys must be distinct, got {keys!r}"
            raise ValueError(msg)


_DEFAULT_KEYS = ProviderKeys()


def _signature(
    service_type: type[Any], policy: ScopePolicy, keys: ProviderKeys, *, is_async: bool
) -> tuple[inspect.Signature, dict[str, Any]]:
    session_type = AsyncSession if is_async else Session
    annotations: dict[str, Any] = {keys.session: NamedDependency[SkipValidation[session_type]]}  # type: ignore[misc,valid-type]
    if keys.cache is not None and is_async:
        annotations[keys.cache] = NamedDependency[SkipValidation[AsyncCache]]
    if policy != "shared":
        annotations[keys.auth] = NamedDependency[SkipValidation[AuthContext[Any, Any]]]
    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        for name, annotation in annotations.items()
    ]
    returns = AsyncGenerator[service_type, None] if is_async else Generator[service_type, None, None]  # type: ignore[valid-type]
    annotations["return"] = returns
    return inspect.Signature(parameters, return_annotation=returns), annotations


@overload
def create_service_provider(
    service_type: type[AsyncServiceT], /, *, scope: ScopePolicy = "shared", keys: ProviderKeys | None = None
) -> Callable[..., AsyncGenerator[AsyncServiceT, None]]: ...


@overload
def create_service_provider(
    service_type: type[SyncServiceT], /, *, scope: ScopePolicy = "shared", keys: ProviderKeys | None = None
) -> Callable[..., Generator[SyncServiceT, None, None]]: ...


def create_service_provider(
    service_type: type[AsyncServiceT] | type[SyncServiceT],
    /,
    *,
    scope: ScopePolicy = "shared",
    keys: ProviderKeys | None = None,
) -> Callable[..., AsyncGenerator[AsyncServiceT, None]] | Callable[..., Generator[SyncServiceT, None, None]]:
    """A dependency provider yielding ``service_type`` on the request's session, the app's cache and the caller's scope.

    Its signature is generated from ``keys``: the session, the cache (unless ``keys.cache`` is
    ``None``) and, for scoped policies, the :class:`~litestar_alchemy_kit.auth.AuthContext`. Register
    it with ``Provide(...)`` under the key handlers use (``service: NamedDependency[NoteService]``),
    or use :func:`create_service_dependencies`.

    Args:
        service_type: a :class:`~litestar_alchemy_kit.service.CachedAsyncRepositoryService` or
            :class:`~litestar_alchemy_kit.service.CachedSyncRepositoryService` subclass.
        scope: whose data the service serves (see :data:`~litestar_alchemy_kit.providers.ScopePolicy`).
            A tenant-scoped provider answers an anonymous caller with 401 and a caller without a
            tenant with 403; it never serves all tenants' rows.
        keys: the dependency keys to ask for (defaults: ``db_session``, ``cache``, ``auth``).

    Raises:
        TypeError: ``service_type`` is not a cached service, or the policy needs a tenant column the
            model does not declare.
        ValueError: a shared provider of a tenant-owned model, or an unknown policy.
    """
    resolved = _DEFAULT_KEYS if keys is None else keys
    candidate: type[Any] = service_type
    is_async = issubclass(candidate, CachedAsyncRepositoryService)
    if not (is_async or issubclass(candidate, CachedSyncRepositoryService)):
        msg = f"{service_type.__name__} is not a CachedAsyncRepositoryService or CachedSyncRepositoryService"
        raise TypeError(msg)
    check_policy(service_type, scope)

    def build(dependencies: dict[str, Any]) -> Any:
        auth: AuthContext[Any, Any] | None = None if scope == "shared" else dependencies[resolved.auth]
        binding = binding_for(service_type, scope_of(scope, auth))
        cache = None if resolved.cache is None or not is_async else dependencies[resolved.cache]
        return service_type(dependencies[resolved.session], cache=cache, scope=binding.scope, tenant=binding.tenant)

    signature, annotations = _signature(service_type, scope, resolved, is_async=is_async)
    if is_async:

        async def provide_service_async(**dependencies: Any) -> AsyncGenerator[Any, None]:
            yield build(dependencies)

        provider: Any = provide_service_async
    else:

        def provide_service_sync(**dependencies: Any) -> Generator[Any, None, None]:
            yield build(dependencies)

        provider = provide_service_sync
    provider.__signature__ = signature
    provider.__annotations__ = annotations
    provider.__name__ = provider.__qualname__ = f"provide_{service_type.__name__}"
    if scope != "shared":
        # What the provider refuses with, as guards declare it, for the OpenAPI document.
        provider.raises = (NotAuthorizedException, PermissionDeniedException)
    return provider  # type: ignore[no-any-return]


def create_service_dependencies(
    service_type: type[CachedAsyncRepositoryService[Any, Any]] | type[CachedSyncRepositoryService[Any, Any]],
    /,
    key: str,
    *,
    scope: ScopePolicy = "shared",
    keys: ProviderKeys | None = None,
    filters: FilterConfig | None = None,
    dependency_defaults: DependencyDefaults = DEPENDENCY_DEFAULTS,
) -> dict[str, Provide]:
    """The service provider under ``key``, and AA's filter dependencies for list endpoints.

    ``filters`` is AA's ``FilterConfig`` (pagination, order by, search, created/updated ranges,
    ``in``/``not in`` collections...); the filters it builds are AA's own (``create_filter_dependencies``),
    so a handler passes ``filters: NamedDependency[list[FilterTypes]]`` on to the service's cached
    ``list_and_count(*filters)``, and their query parameters appear in the OpenAPI document.
    """
    provider = create_service_provider(service_type, scope=scope, keys=keys)
    dependencies = {key: Provide(provider)}
    if filters:
        dependencies.update(create_filter_dependencies(filters, dependency_defaults))
        order_key = dependency_defaults.ORDER_BY_FILTER_DEPENDENCY_KEY
        if order_key in dependencies:
            service: type[Any] = service_type
            model: type[Any] = service.repository_type.model_type
            dependencies[order_key] = Provide(
                _checked_order_by(dependencies[order_key].dependency, model, filters), sync_to_thread=False
            )
    return dependencies


def _checked_order_by(
    provide: Callable[..., OrderBy], model: type[Any], filters: FilterConfig
) -> Callable[..., OrderBy]:
    """AA's order-by provider, refusing a field the client may not sort by with a 400 that names the parameter.

    AA passes the query's field name straight to ``getattr(model, name)``: an unknown or empty name is an
    ``AttributeError`` deep in the repository, answered 500. The fields allowed are the configured ones when
    ``sort_field`` lists several, otherwise the model's mapped columns.
    """
    configured = filters.get("sort_field")
    columns: list[str] = list(inspect_model(model).column_attrs.keys())  # pyright: ignore[reportUnknownMemberType,reportUnknownArgumentType]
    allowed = frozenset[str](configured) if isinstance(configured, (set, list)) else frozenset(columns)
    parameter = resolve_filter_aliases(filters).get("order_by", "orderBy")

    @functools.wraps(provide)  # the same signature, so the same query parameters and OpenAPI document
    def provide_order_by(*args: Any, **kwargs: Any) -> OrderBy:
        order = provide(*args, **kwargs)
        if order.field_name not in allowed:
            message = f"cannot sort by {order.field_name!r}; expected one of {', '.join(sorted(allowed))}"
            raise ValidationException(
                detail=f"Validation failed for {parameter}",
                extra=[{"message": message, "key": parameter, "source": "query"}],
            )
        return order

    return provide_order_by


@dataclass(frozen=True)
class ServiceDependency:
    """A service the composed plugin provides under a dependency key (see ``AlchemyKitConfig.services``)."""

    service_type: type[CachedAsyncRepositoryService[Any, Any]] | type[CachedSyncRepositoryService[Any, Any]]
    """The cached service class."""
    scope: ScopePolicy = "shared"
    """Whose data it serves (see :data:`~litestar_alchemy_kit.providers.ScopePolicy`)."""
    filters: FilterConfig | None = None
    """AA's filter configuration for its list endpoints (``None``: no filter dependencies)."""

    def dependencies(self, key: str, keys: ProviderKeys | None = None) -> dict[str, Provide]:
        """The provider under ``key`` and its filter dependencies (:func:`create_service_dependencies`)."""
        return create_service_dependencies(self.service_type, key, scope=self.scope, keys=keys, filters=self.filters)
