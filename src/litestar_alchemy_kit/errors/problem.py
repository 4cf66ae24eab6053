"""The RFC 9457 problem details document and its parts, as msgspec structs (so OpenAPI sees them)."""

import msgspec

__all__ = ("PROBLEM_MEDIA_TYPE", "ExceptionDetail", "FieldError", "ProblemDetails")

PROBLEM_MEDIA_TYPE = "application/problem+json"
"""The media type of every error response (RFC 9457, section 3)."""


class FieldError(msgspec.Struct, omit_defaults=True, frozen=True):
    """One invalid input of a request that failed validation."""

    message: str
    """What is wrong with the value."""
    source: str | None = None
    """Where the value came from, one of ``body``, ``query``, ``path``, ``header`` or ``cookie``."""
    field: str | None = None
    """Which field, as a dotted key such as ``address.city``, absent when the input as a whole is invalid."""


class ExceptionDetail(msgspec.Struct, frozen=True):
    """The server-side exception; only ever present when the application runs in debug mode."""

    type: str
    """The qualified exception class name."""
    message: str
    """The exception's message."""
    traceback: list[str]
    """The formatted traceback lines."""


class ProblemDetails(msgspec.Struct, omit_defaults=True, frozen=True):
    """An RFC 9457 problem details object, with the extension members of this library's error contract."""

    type: str
    """A URI identifying the problem type; ``about:blank`` when the type is just the HTTP status."""
    title: str
    """A short summary of the problem type; the same for every occurrence."""
    status: int
    """The HTTP status code of the response."""
    detail: str
    """An explanation of this occurrence, safe to show to the client."""
    instance: str
    """A URI reference identifying this occurrence (by default the request path)."""
    code: str
    """A stable machine-readable code, such as ``not_found`` or ``conflict.duplicate``."""
    trace_id: str
    """The id under which the server logged this occurrence (the OpenTelemetry trace id when there is one)."""
    errors: list[FieldError] | None = None
    """The invalid inputs, for validation failures."""
    exception: ExceptionDetail | None = None
    """The underlying exception, in debug mode only."""
