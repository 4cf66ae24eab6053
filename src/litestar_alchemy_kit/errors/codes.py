"""Problem types: the stable ``code``, status and title of each kind of failure."""

import re
from dataclasses import dataclass
from http import HTTPStatus

__all__ = (
    "BAD_REQUEST",
    "BUILTIN_TYPES",
    "CHECK_VIOLATION",
    "COMMIT_REFUSED",
    "DUPLICATE",
    "FOREIGN_KEY",
    "INTEGRITY",
    "INTERNAL",
    "INVALID_DATA",
    "NOT_FOUND",
    "NOT_NULL",
    "OUT_OF_RANGE",
    "REPOSITORY",
    "UNAVAILABLE",
    "VALIDATION",
    "ProblemType",
    "http_problem_type",
)

_CODE = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986 unreserved characters


@dataclass(frozen=True)
class ProblemType:
    """A kind of failure, as clients see it.

    Map exceptions to problem types with :attr:`ErrorsConfig.exception_problems
    <litestar_alchemy_kit.errors.ErrorsConfig.exception_problems>`.
    """

    status: int
    """The HTTP status code of the response."""
    code: str
    """The stable machine-readable code, e.g. ``payment.declined``; also the last segment of ``type``."""
    title: str
    """A short, stable summary; used as ``title`` when a type base URI is configured (RFC 9457 asks for the
    status phrase when ``type`` is ``about:blank``)."""
    detail: str | None = None
    """The ``detail`` of every occurrence. ``None`` uses the exception's message if ``expose_message``, else an
    ``HTTPException``'s own ``detail`` (never a 500's), else the title."""
    expose_message: bool = False
    """Send ``str(exc)`` as ``detail``. Only for exceptions whose messages are written for clients."""

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:  # noqa: PLR2004
            msg = f"problem type {self.code!r} has status {self.status}, which is not an error status (400-599)"
            raise ValueError(msg)
        if not _CODE.fullmatch(self.code):
            msg = (
                f"problem type with status {self.status} has code {self.code!r}; a code is the last segment of the"
                " type URI, so it takes only letters, digits and '.', '_', '-', '~'"
            )
            raise ValueError(msg)


NOT_FOUND = ProblemType(404, "not_found", "Resource not found", "The requested resource was not found.")
DUPLICATE = ProblemType(
    409, "conflict.duplicate", "Duplicate resource", "A resource with the same unique value exists."
)
FOREIGN_KEY = ProblemType(
    409,
    "conflict.foreign_key",
    "Related resource conflict",
    "The change refers to, or is referred to by, another resource.",
)
INTEGRITY = ProblemType(
    409, "conflict.integrity", "Data integrity conflict", "The change conflicts with existing data."
)
CHECK_VIOLATION = ProblemType(422, "integrity.check", "Value not allowed", "A value does not satisfy a data rule.")
NOT_NULL = ProblemType(422, "integrity.not_null", "Required value missing", "A required value is missing.")
INVALID_DATA = ProblemType(422, "invalid_data", "Invalid data", "A value cannot be stored as given.")
OUT_OF_RANGE = ProblemType(
    422, "validation.out_of_range", "Value out of range", "A value is outside the range the database can store."
)
VALIDATION = ProblemType(400, "validation", "Request validation failed")
BAD_REQUEST = ProblemType(400, "bad_request", "Bad Request")
"""Malformed input: bodies that are not JSON, or nested deeper than the decoder follows."""
UNAVAILABLE = ProblemType(
    503,
    "database.unavailable",
    "Database unavailable",
    "The database cannot be reached right now; retry later.",
)
"""The database connection was lost, cannot be opened, or the pool has none free; sent with ``Retry-After``."""
COMMIT_REFUSED = ProblemType(
    503,
    "cache.commit_refused",
    "Change not applied",
    "The change could not be applied safely right now; retry later.",
)
"""A commit refused under the strict commit policy: the cache store could not announce its invalidation. Nothing
was committed; sent with ``Retry-After``."""
REPOSITORY = ProblemType(500, "repository_error", "Repository error", "The request could not be completed.")
INTERNAL = ProblemType(500, "internal_error", "Internal server error", "An unexpected error occurred.")

BUILTIN_TYPES = (
    NOT_FOUND,
    DUPLICATE,
    FOREIGN_KEY,
    INTEGRITY,
    CHECK_VIOLATION,
    NOT_NULL,
    INVALID_DATA,
    OUT_OF_RANGE,
    VALIDATION,
    BAD_REQUEST,
    REPOSITORY,
    UNAVAILABLE,
    COMMIT_REFUSED,
    INTERNAL,
)
"""The problem types this library maps to; a code keeps one status and title wherever it appears."""

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
    500: "internal_error",
}


def http_problem_type(status: int) -> ProblemType:
    """The problem type of an HTTP status with no more specific mapping: ``code`` is the status name."""
    try:
        phrase, name = HTTPStatus(status).phrase, HTTPStatus(status).name.lower()
    except ValueError:
        phrase, name = "Error", f"http_{status}"
    code = _HTTP_CODES.get(status, name)
    # A code shared with a built-in type (404's not_found) keeps that type's title: one type, one title.
    title = next((t.title for t in BUILTIN_TYPES if t.code == code and t.status == status), phrase)
    return ProblemType(status, code, title)
