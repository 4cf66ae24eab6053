"""Document problem responses on each operation, with the problem details schema as a component."""

import inspect
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args, get_origin, runtime_checkable

from advanced_alchemy.exceptions import NotFoundError, RepositoryError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService, SQLAlchemySyncRepositoryService
from litestar import Litestar
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from litestar_alchemy_kit.errors.codes import BAD_REQUEST, INTERNAL, VALIDATION, ProblemType
from litestar_alchemy_kit.errors.mapping import ExceptionProblems, documented_problem_types
from litestar_alchemy_kit.errors.problem import PROBLEM_MEDIA_TYPE, ProblemDetails

if TYPE_CHECKING:
    from collections.abc import Mapping

    from litestar.di import Provide
    from litestar.handlers import HTTPRouteHandler
    from litestar.routes.base import BaseRoute

__all__ = ("PROBLEMS_OPT_KEY", "DeclaresProblems", "document_route")

PROBLEMS_OPT_KEY = "problems"
"""Handler ``opt`` key listing the exception classes (yours, Advanced Alchemy's) an operation can raise."""

_NOT_INPUT = frozenset({"request", "state", "scope", "socket"})
_BODY = "data"
# Dependencies whose type says the route reads and writes through Advanced Alchemy: lookups can miss (404), writes
# can conflict (409) or be refused (422), and the database can be unavailable (503).
_REPOSITORY_TYPES: tuple[type, ...] = (
    SQLAlchemyAsyncRepository,
    SQLAlchemySyncRepository,
    SQLAlchemyAsyncRepositoryService,
    SQLAlchemySyncRepositoryService,
)
_SESSION_TYPES: tuple[type, ...] = (AsyncSession, Session)


@runtime_checkable
class DeclaresProblems(Protocol):
    """A guard or dependency provider declaring the exceptions it raises, which each operation using it documents.

    Any object with a ``raises`` attribute qualifies, so a guard library needs no import from this one: the auth
    guards of this kit carry ``raises = (NotAuthorizedException, PermissionDeniedException)``, and so do its
    ``current_user`` and ``current_tenant`` providers.
    """

    @property
    def raises(self) -> Sequence[type[Exception]]:
        """The exception classes the guard raises (mapped to problem types like any other exception)."""
        ...


def document_route(route: "BaseRoute", problems: ExceptionProblems) -> None:
    """Add a problem+json response per error status the route's handlers can produce; explicit ``responses`` win."""
    if not isinstance(route, HTTPRoute):
        return
    for handler in route.route_handlers:
        by_status: dict[int, list[str]] = {}
        for problem_type in _problem_types(route, handler, problems):
            codes = by_status.setdefault(problem_type.status, [])
            if problem_type.code not in codes:
                codes.append(problem_type.code)
        responses = dict(handler.responses or {})
        for status, codes in sorted(by_status.items()):
            responses.setdefault(
                status,
                ResponseSpec(
                    data_container=ProblemDetails,
                    description=f"{_phrase(status)}; problem codes: {', '.join(codes)}",
                    media_type=PROBLEM_MEDIA_TYPE,
                    generate_examples=False,
                ),
            )
        handler.responses = responses


def _problem_types(route: HTTPRoute, handler: "HTTPRouteHandler", problems: ExceptionProblems) -> list[ProblemType]:
    """What the handler can answer: input errors, its guards', its dependencies', what it declares, a 500."""
    available = handler.resolve_dependencies()
    parameters = handler.parsed_fn_signature.parameters
    takes_input = bool(route.path_parameters) or any(
        name not in _NOT_INPUT and name not in available for name in parameters
    )
    dependencies = _used(list(parameters), available)
    types: list[ProblemType] = [VALIDATION] if takes_input else []
    if _BODY in parameters:
        types.append(BAD_REQUEST)  # malformed or too deeply nested JSON
    raised: list[type[Exception]] = [*(handler.raises or ()), *handler.opt.get(PROBLEMS_OPT_KEY, ())]
    if _secured(handler):
        raised.append(NotAuthorizedException)  # a security requirement is enforced by refusing the request
    # The layers' own guards: resolve_guards() returns them wrapped for async calls.
    sources: list[object] = [provider.dependency for provider in dependencies.values()]
    for layer in handler.ownership_layers:
        sources.extend(cast("Sequence[object]", layer.guards or ()))  # pyright: ignore[reportUnknownMemberType]
    raised.extend(exc for source in sources if isinstance(source, DeclaresProblems) for exc in source.raises)
    annotations = [parameters[name].annotation for name in parameters if name in dependencies]
    annotations.extend(_return_annotation(provider.dependency) for provider in dependencies.values())
    if any(_is_subclass(annotation, _REPOSITORY_TYPES) for annotation in annotations):
        raised.extend((NotFoundError, RepositoryError))
    elif any(_is_subclass(annotation, _SESSION_TYPES) for annotation in annotations):
        raised.append(SQLAlchemyError)
    for exc_type in raised:
        types.extend(documented_problem_types(exc_type, problems))
    types.append(INTERNAL)
    return types


def _used(names: list[str], available: "Mapping[str, Provide]") -> "dict[str, Provide]":
    """The providers the handler uses, directly or through other providers (every layer's are available to it)."""
    used: dict[str, Provide] = {}
    while names:
        name = names.pop()
        if name in available and name not in used:
            used[name] = available[name]
            names.extend(_parameter_names(available[name].dependency))
    return used


def _parameter_names(provider: object) -> list[str]:
    try:
        return list(inspect.signature(provider).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []


def _secured(handler: "HTTPRouteHandler") -> bool:
    """Whether the operation has a security requirement: its own, or the document's (where auth backends put it)."""
    if handler.resolve_security():
        return True
    app = next((layer for layer in handler.ownership_layers if isinstance(layer, Litestar)), None)
    return bool(app is not None and app.openapi_config is not None and app.openapi_config.security)


def _return_annotation(provider: object) -> object:
    try:
        return inspect.signature(provider, eval_str=True).return_annotation  # type: ignore[arg-type]
    except (TypeError, ValueError, NameError):
        return None


def _is_subclass(annotation: object, bases: tuple[type, ...]) -> bool:
    """Whether ``annotation`` (or what ``Annotated``/a generic alias wraps) is a subclass of one of ``bases``."""
    candidates: list[Any] = [annotation]
    while candidates:
        candidate = candidates.pop()
        if isinstance(candidate, type) and issubclass(candidate, bases):
            return True
        origin = get_origin(candidate)
        if origin is not None:
            candidates.extend((origin, *get_args(candidate)))
    return False


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
