"""The exception handler: any exception in, an RFC 9457 response out, the full error logged."""

import logging
import re
import traceback
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from litestar.response import Response
from opentelemetry import trace

from litestar_alchemy_kit.errors.codes import COMMIT_REFUSED, INTERNAL, UNAVAILABLE, ProblemType
from litestar_alchemy_kit.errors.mapping import resolve, safe_str
from litestar_alchemy_kit.errors.problem import PROBLEM_MEDIA_TYPE, ExceptionDetail, ProblemDetails

if TYPE_CHECKING:
    from litestar.connection import Request

    from litestar_alchemy_kit.errors.config import ErrorsConfig

__all__ = ("create_exception_handler", "current_trace_id")

logger = logging.getLogger("litestar_alchemy_kit.errors")

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def current_trace_id(request: "Request[Any, Any, Any]", header: str | None) -> str:
    """The active OpenTelemetry trace id, else a well-formed request id header, else a new random id."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return trace.format_trace_id(context.trace_id)
    if header and (value := request.headers.get(header)) and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def create_exception_handler(
    config: "ErrorsConfig",
) -> "Callable[[Request[Any, Any, Any], Exception], Response[ProblemDetails]]":
    """The handler the plugin registers; one for every exception type, so mappings live in one place."""
    base = config.type_base_uri.rstrip("/") + "/" if config.type_base_uri else None

    def respond(problem_type: ProblemType, trace_id: str, **members: Any) -> "Response[ProblemDetails]":
        body = ProblemDetails(
            type=base + problem_type.code if base else "about:blank",
            # RFC 9457 4.2.1: with about:blank the title should be the HTTP status phrase.
            title=problem_type.title if base else _phrase(problem_type.status, problem_type.title),
            status=problem_type.status,
            code=problem_type.code,
            trace_id=trace_id,
            **members,
        )
        return Response(body, status_code=problem_type.status, media_type=PROBLEM_MEDIA_TYPE)

    def handle(request: "Request[Any, Any, Any]", exc: Exception) -> "Response[ProblemDetails]":
        trace_id = current_trace_id(request, config.request_id_header)
        try:
            resolution = resolve(exc, config.exception_problems)
            _log(request, exc, resolution.problem_type, trace_id, config.client_error_log_level)
            response = respond(
                resolution.problem_type,
                trace_id,
                detail=resolution.detail,
                instance=config.instance_builder(request) if config.instance_builder else _path(request),
                errors=resolution.errors,
                exception=_exception_detail(exc) if request.app.debug else None,
            )
        except Exception:  # an exception escaping an exception handler reaches the client as a bare 500
            logger.exception(
                "%s %s: the problem response for %s could not be built (trace_id=%s)",
                request.method,
                request.url.path,
                type(exc).__qualname__,
                trace_id,
                extra={"trace_id": trace_id, "problem_code": INTERNAL.code},
            )
            return respond(INTERNAL, trace_id, detail=INTERNAL.detail or INTERNAL.title, instance=_path(request))
        response.headers.update(resolution.headers)
        if resolution.problem_type in {UNAVAILABLE, COMMIT_REFUSED} and "retry-after" not in response.headers:
            response.headers["Retry-After"] = str(config.retry_after)
        return response

    return handle


def _path(request: "Request[Any, Any, Any]") -> str:
    return quote(request.url.path, safe="/")


def _phrase(status: int, fallback: str) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return fallback


def _log(
    request: "Request[Any, Any, Any]", exc: Exception, problem_type: ProblemType, trace_id: str, client_level: int
) -> None:
    """One line for a client error; the traceback, with the trace id, for a server error."""
    server_error = problem_type.status >= 500  # noqa: PLR2004
    logger.log(
        logging.ERROR if server_error else client_level,
        "%s %s -> %s %s (%s, trace_id=%s)",
        request.method,
        request.url.path,
        problem_type.status,
        problem_type.code,
        type(exc).__qualname__,
        trace_id,
        exc_info=exc if server_error else None,
        extra={"trace_id": trace_id, "problem_code": problem_type.code},
    )


def _exception_detail(exc: BaseException) -> ExceptionDetail:
    return ExceptionDetail(
        type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        message=safe_str(exc),
        traceback=traceback.format_exception(type(exc), exc, exc.__traceback__),
    )
