"""Map any exception to a problem type, a client-safe detail, headers to keep and field errors."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import msgspec
from advanced_alchemy.exceptions import (
    DuplicateKeyError,
    ForeignKeyError,
    NotFoundError,
    RepositoryError,
)
from advanced_alchemy.exceptions import IntegrityError as RepositoryIntegrityError
from litestar.exceptions import ClientException, HTTPException, ValidationException
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from litestar_alchemy_kit.errors.availability import is_unavailable
from litestar_alchemy_kit.errors.codes import (
    BAD_REQUEST,
    CHECK_VIOLATION,
    COMMIT_REFUSED,
    DUPLICATE,
    FOREIGN_KEY,
    INTEGRITY,
    INTERNAL,
    INVALID_DATA,
    NOT_FOUND,
    NOT_NULL,
    OUT_OF_RANGE,
    REPOSITORY,
    UNAVAILABLE,
    VALIDATION,
    ProblemType,
    http_problem_type,
)
from litestar_alchemy_kit.errors.integrity import classify_violation, is_invalid_data, is_out_of_range
from litestar_alchemy_kit.errors.problem import FieldError
from litestar_alchemy_kit.exceptions import CommitRefusedError

__all__ = ("ExceptionProblems", "Resolution", "documented_problem_types", "resolve", "safe_str")

ExceptionProblems = Mapping[type[Exception], ProblemType]
"""User mappings of exception classes (and their subclasses) to problem types."""

# Litestar modules whose 4xx details name files on the server's disk ("no file or directory match the path
# /srv/app/static/x was found", "failed to read /srv/... due to missing permissions").
_PATH_REVEALING_MODULES = ("litestar.static_files", "litestar.file_system")

_VIOLATIONS = {"unique": DUPLICATE, "foreign_key": FOREIGN_KEY, "not_null": NOT_NULL, "check": CHECK_VIOLATION}
_DATABASE_TYPES = (
    DUPLICATE,
    FOREIGN_KEY,
    CHECK_VIOLATION,
    NOT_NULL,
    INTEGRITY,
    INVALID_DATA,
    OUT_OF_RANGE,
    UNAVAILABLE,
)
_TOO_DEEP = "The request body is nested too deeply."
_BODY_MISSING = "The request body is missing."
# msgspec names a missing member in the message, and the path it gives is the object holding it.
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")
_BODY_PARAMETER = "data"  # Litestar's name for the body; it is not a field the client sent


@dataclass(frozen=True)
class Resolution:
    """What the client is told about one exception."""

    problem_type: ProblemType
    detail: str
    headers: dict[str, str]
    errors: list[FieldError] | None = None


def _database_problem(exc: BaseException, default: ProblemType) -> ProblemType:
    """Classify by the SQLAlchemy/driver error behind ``exc`` (AA wraps data and even connection errors)."""
    wrapped = next((e for e in _chain(exc) if isinstance(e, DBAPIError)), None)
    # Classified whatever the DBAPI class: MariaDB reports CHECK violations as OperationalError.
    if wrapped is not None and (violation := classify_violation(wrapped)):
        return _VIOLATIONS[violation]
    # Most specific first: an out-of-range number is also a data error; a lost connection may be any DBAPI class.
    checks: tuple[tuple[bool, ProblemType], ...] = (
        (is_out_of_range(exc), OUT_OF_RANGE),
        (is_unavailable(exc), UNAVAILABLE),
        (isinstance(wrapped, DatabaseIntegrityError), INTEGRITY),
        (isinstance(wrapped, DataError) or (wrapped is not None and is_invalid_data(wrapped)), INVALID_DATA),
        (wrapped is None and isinstance(exc, RepositoryIntegrityError), INTEGRITY),
    )
    return next((problem_type for matches, problem_type in checks if matches), default)


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _overflow_problem(exc: BaseException) -> ProblemType:
    return OUT_OF_RANGE if is_out_of_range(exc) else INTERNAL


def _os_problem(exc: BaseException) -> ProblemType:
    return UNAVAILABLE if is_unavailable(exc) else INTERNAL


def _recursion_problem(exc: BaseException) -> ProblemType:
    """A document nested deeper than msgspec follows is the client's error; any other recursion is a bug."""
    return BAD_REQUEST if _raised_decoding(exc) else INTERNAL


def _raised_decoding(exc: BaseException) -> bool:
    """Whether the innermost Python frame of ``exc`` is one of Litestar's ``decode_*`` serialization functions.

    msgspec is C code, so the frame calling it is the innermost one; encoding a cyclic response also recurses,
    from ``encode_*``, and stays a server error.
    """
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return False
    module = frame.tb_frame.f_globals.get("__name__", "")
    return module == "litestar.serialization.msgspec_hooks" and frame.tb_frame.f_code.co_name.startswith("decode")


def _client_problem(exc: BaseException) -> ProblemType:
    return VALIDATION if _body_decoding_error(exc) is not None else _http_problem(exc)


def _http_problem(exc: BaseException) -> ProblemType:
    status = getattr(exc, "status_code", 500)
    return http_problem_type(status) if isinstance(status, int) and 400 <= status <= 599 and status != 500 else INTERNAL  # noqa: PLR2004


_BUILTIN: dict[type[BaseException], ProblemType | Callable[[BaseException], ProblemType]] = {
    NotFoundError: NOT_FOUND,
    CommitRefusedError: COMMIT_REFUSED,
    DuplicateKeyError: DUPLICATE,
    ForeignKeyError: FOREIGN_KEY,
    RepositoryIntegrityError: lambda exc: _database_problem(exc, INTEGRITY),
    RepositoryError: lambda exc: _database_problem(exc, REPOSITORY),
    PoolTimeoutError: UNAVAILABLE,
    SQLAlchemyError: lambda exc: _database_problem(exc, INTERNAL),
    # Raised unwrapped by drivers: SQLite's parameter encoding, asyncpg's connect.
    OverflowError: _overflow_problem,
    OSError: _os_problem,
    RecursionError: _recursion_problem,
    ValidationException: VALIDATION,
    ClientException: _client_problem,
    HTTPException: _http_problem,
}
# What the classifying entries above can produce, for the OpenAPI document.
_POSSIBLE: dict[type[BaseException], tuple[ProblemType, ...]] = {
    RepositoryIntegrityError: _DATABASE_TYPES,
    RepositoryError: (*_DATABASE_TYPES, REPOSITORY),
    SQLAlchemyError: (*_DATABASE_TYPES, INTERNAL),
    OverflowError: (OUT_OF_RANGE, INTERNAL),
    OSError: (UNAVAILABLE, INTERNAL),
    RecursionError: (BAD_REQUEST, INTERNAL),
}


def _lookup(exc_type: type[BaseException], user: ExceptionProblems) -> tuple[type[BaseException], Any]:
    """The most specific mapped class of ``exc_type`` and its entry; user entries win on the same class."""
    for cls in exc_type.__mro__:
        if cls in user:
            return cls, user[cls]
        if cls in _BUILTIN:
            return cls, _BUILTIN[cls]
    return BaseException, INTERNAL


def resolve(exc: BaseException, user: ExceptionProblems) -> Resolution:
    """Everything the error response says about ``exc``."""
    _, entry = _lookup(type(exc), user)
    problem_type: ProblemType = entry if isinstance(entry, ProblemType) else entry(exc)
    # Headers of HTTP errors are part of the answer (WWW-Authenticate, Allow, Retry-After), whatever the mapping.
    headers: dict[str, str] = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    detail = problem_type.detail
    if detail is None and problem_type.expose_message:
        detail = safe_str(exc) or None
    # A 500's text may describe internals (Litestar raises some itself), so it is never passed on.
    if (
        detail is None
        and isinstance(exc, HTTPException)
        and problem_type.status != 500  # noqa: PLR2004
        and not _raised_in(exc, _PATH_REVEALING_MODULES)
    ):
        detail = exc.detail or None
    if detail is None and problem_type is BAD_REQUEST and isinstance(exc, RecursionError):
        detail = _TOO_DEEP
    detail = detail or problem_type.title
    errors = _field_errors(exc.extra) if isinstance(exc, ValidationException) else None
    if (decoding := _body_decoding_error(exc)) is not None:
        errors = _body_field_errors(decoding)
    return Resolution(problem_type, detail, headers, errors)


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception cannot render itself."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001
        return f"<unprintable {type(exc).__qualname__}>"


def _raised_in(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether the innermost frame of ``exc``'s traceback belongs to one of ``modules`` (or their submodules)."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    name = frame.tb_frame.f_globals.get("__name__", "") if frame is not None else ""
    return isinstance(name, str) and any(name == module or name.startswith(f"{module}.") for module in modules)


def _field_errors(extra: Any) -> list[FieldError]:
    """Validation messages as field errors.

    Litestar's own are ``{"message", "key", "source"}`` dicts; its PydanticDTO passes pydantic's ``{"msg", "loc"}``
    dicts on (whose ``input`` member, the client's value, is not repeated).
    """
    items = cast("list[object]", extra if isinstance(extra, list) else [extra])
    errors: list[FieldError] = []
    for item in items:
        entry = cast("dict[str, Any]", item) if isinstance(item, dict) else {}
        message, key, location = entry.get("message", entry.get("msg")), entry.get("key"), entry.get("loc")
        if key is None and isinstance(location, (list, tuple)):
            key = ".".join(str(part) for part in cast("list[object]", location)) or None
        if isinstance(message, str):
            errors.append(_field_error(message, _text(entry.get("source")), _text(key)))
    return errors


def _field_error(message: str, source: str | None, key: str | None) -> FieldError:
    """One field error, naming the field the client got wrong rather than Litestar's parameter for the body."""
    if source == "body" and key == _BODY_PARAMETER:
        if message == repr(_BODY_PARAMETER):  # Litestar's KeyError text when there is no body at all
            return FieldError(message=_BODY_MISSING, source=source)
        key = None  # the body as a whole
    if missing := _MISSING_FIELD.match(message):
        key = f"{key}.{missing.group(1)}" if key else missing.group(1)
    return FieldError(message=message, source=source, field=key)


def _body_decoding_error(exc: BaseException) -> msgspec.ValidationError | None:
    """The msgspec error behind a 400 from decoding a body with a schema (DTOs, msgspec bodies).

    Litestar reports these as a plain ``ClientException`` carrying msgspec's text (``... - at `$.a[0].b` ``);
    malformed input is a ``DecodeError`` instead, and stays a bad request.
    """
    if type(exc) is not ClientException or exc.status_code != 400:  # noqa: PLR2004
        return None
    return next((e for e in _chain(exc) if isinstance(e, msgspec.ValidationError)), None)


def _body_field_errors(error: msgspec.ValidationError) -> list[FieldError]:
    message, _, path = str(error).partition(" - at `")
    field = path.removesuffix("`").removeprefix("$").removeprefix(".")
    return [_field_error(message, "body", field or None)]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.value) if isinstance(value, Enum) else str(value)


def documented_problem_types(exc_type: type[BaseException], user: ExceptionProblems) -> tuple[ProblemType, ...]:
    """Every problem type ``exc_type`` can map to (several for errors classified by their database cause)."""
    cls, entry = _lookup(exc_type, user)
    if isinstance(entry, ProblemType):
        return (entry,)
    if cls in _POSSIBLE:
        return _POSSIBLE[cls]
    status = getattr(exc_type, "status_code", 500)
    return (http_problem_type(status) if isinstance(status, int) and 400 <= status <= 599 else INTERNAL,)  # noqa: PLR2004
