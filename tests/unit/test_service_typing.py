"""mypy --strict and pyright (strict) accept a service with one type argument, AA's usual form (issue 17)."""

from tests._typing import CHECKS, assert_mypy_strict, assert_pyright_strict

POSITIVE = CHECKS / "check_service_types.py"
NEGATIVE = CHECKS / "check_service_types_any.py"


def test_mypy_strict() -> None:
    assert_mypy_strict(POSITIVE, NEGATIVE, expected_errors=2)


def test_pyright_strict() -> None:
    assert_pyright_strict(POSITIVE, NEGATIVE, expected_errors=2)
