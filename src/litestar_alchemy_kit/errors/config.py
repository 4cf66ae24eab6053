"""Configuration of the error contract."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from litestar_alchemy_kit.errors.codes import BUILTIN_TYPES, ProblemType, http_problem_type

if TYPE_CHECKING:
    from litestar.connection import Request

__all__ = ("ErrorsConfig",)


@dataclass
class ErrorsConfig:
    """Configuration for :class:`ErrorsPlugin <litestar_alchemy_kit.errors.ErrorsPlugin>`."""

    type_base_uri: str | None = None
    """Base URI of problem ``type`` members: ``{base}/{code}``. ``None`` sends ``about:blank`` (and the HTTP status
    phrase as ``title``, as RFC 9457 asks)."""
    exception_problems: Mapping[type[Exception], ProblemType] = field(
        default_factory=dict[type[Exception], ProblemType]
    )
    """Your exceptions mapped to problem types. A mapping applies to subclasses too; the most specific class wins, and
    on the same class yours win over the built-in ones. Exception handlers registered on the app win over both."""
    instance_builder: "Callable[[Request[Any, Any, Any]], str] | None" = None
    """Builds the ``instance`` member from the request; ``None`` uses the request path."""
    request_id_header: str | None = "x-request-id"
    """Request header whose value becomes ``trace_id`` when no OpenTelemetry span is active (only if it is 1-128
    characters of ``[A-Za-z0-9._:-]``; otherwise a random id is used). ``None`` never reads a header."""
    commit_before_response: bool = True
    """For Advanced Alchemy configs using the ``autocommit`` before-send handler, commit just before the response
    starts, so that a failing commit becomes a problem response instead of being dropped by that handler."""
    client_error_log_level: int = logging.INFO
    """Level of the one line logged per 4xx response, without a traceback (the mistake is the client's). 5xx
    responses are logged at ``ERROR`` with the traceback and the trace id."""
    retry_after: int = 1
    """Seconds sent as ``Retry-After`` with a 503 ``database.unavailable`` (lost connection, unreachable database,
    exhausted pool) or ``cache.commit_refused`` when the exception carries no ``Retry-After`` of its own."""
    document_responses: bool = True
    """Document problem responses on every operation of the OpenAPI schema (validation, internal errors, the
    operation's ``raises`` and the exceptions listed under ``opt["problems"]``)."""

    def __post_init__(self) -> None:
        if self.retry_after < 0:
            msg = f"retry_after must be a number of seconds >= 0, got {self.retry_after}"
            raise ValueError(msg)
        # Checked at runtime too: the mapping is often built from untyped settings.
        entries = cast("Mapping[object, object]", self.exception_problems)
        http_types = (http_problem_type(status) for status in HTTPStatus if 400 <= status <= 599)  # noqa: PLR2004
        by_code = {problem_type.code: problem_type for problem_type in (*http_types, *BUILTIN_TYPES)}
        for exc_type, problem_type in entries.items():
            if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
                msg = f"exception_problems keys must be exception classes, got {exc_type!r}"
                raise TypeError(msg)
            if not isinstance(problem_type, ProblemType):
                msg = f"exception_problems[{exc_type.__name__}] must be a ProblemType, got {problem_type!r}"
                raise TypeError(msg)
            known = by_code.setdefault(problem_type.code, problem_type)
            if (known.status, known.title) != (problem_type.status, problem_type.title):
                msg = (
                    f"exception_problems[{exc_type.__name__}] uses code {problem_type.code!r} with status"
                    f" {problem_type.status} and title {problem_type.title!r}, but the code already means status"
                    f" {known.status} and title {known.title!r}; a code names one problem type"
                )
                raise ValueError(msg)
