"""Document problem responses on each operation, with the problem details schema as a component."""

from http import HTTPStatus
from typing import TYPE_CHECKING

from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from litestar_alchemy_kit.errors.codes import INTERNAL, VALIDATION, ProblemType
from litestar_alchemy_kit.errors.mapping import ExceptionProblems, documented_problem_types
from litestar_alchemy_kit.errors.problem import PROBLEM_MEDIA_TYPE, ProblemDetails

if TYPE_CHECKING:
    from litestar.routes.base import BaseRoute

__all__ = ("PROBLEMS_OPT_KEY", "document_route")

PROBLEMS_OPT_KEY = "problems"
"""Handler ``opt`` key listing the exception classes (yours, Advanced Alchemy's) an operation can raise."""

_NOT_INPUT = frozenset({"request", "state", "scope", "socket"})


def document_route(route: "BaseRoute", problems: ExceptionProblems) -> None:
    """Add a problem+json response per error status the route's handlers can produce; explicit ``responses`` win."""
    if not isinstance(route, HTTPRoute):
        return
    for handler in route.route_handlers:
        dependencies = handler.resolve_dependencies()
        takes_input = bool(route.path_parameters) or any(
            name not in _NOT_INPUT and name not in dependencies for name in handler.parsed_fn_signature.parameters
        )
        types: list[ProblemType] = [VALIDATION] if takes_input else []
        for exc_type in (*(handler.raises or ()), *handler.opt.get(PROBLEMS_OPT_KEY, ())):
            types.extend(documented_problem_types(exc_type, problems))
        types.append(INTERNAL)
        by_status: dict[int, list[str]] = {}
        for problem_type in types:
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


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
