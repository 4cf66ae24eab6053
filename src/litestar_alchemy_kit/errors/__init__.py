"""RFC 9457 problem details for every failure, with stable codes, no leaked internals, and OpenAPI docs."""

from litestar_alchemy_kit.errors.codes import ProblemType
from litestar_alchemy_kit.errors.config import ErrorsConfig
from litestar_alchemy_kit.errors.handlers import create_exception_handler
from litestar_alchemy_kit.errors.integrity import classify_violation
from litestar_alchemy_kit.errors.mapping import resolve
from litestar_alchemy_kit.errors.openapi import PROBLEMS_OPT_KEY, DeclaresProblems
from litestar_alchemy_kit.errors.plugin import ErrorsPlugin
from litestar_alchemy_kit.errors.problem import PROBLEM_MEDIA_TYPE, ExceptionDetail, FieldError, ProblemDetails

__all__ = (
    "PROBLEMS_OPT_KEY",
    "PROBLEM_MEDIA_TYPE",
    "DeclaresProblems",
    "ErrorsConfig",
    "ErrorsPlugin",
    "ExceptionDetail",
    "FieldError",
    "ProblemDetails",
    "ProblemType",
    "classify_violation",
    "create_exception_handler",
    "resolve",
)
