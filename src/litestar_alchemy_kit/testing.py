"""Test helpers for applications using litestar-alchemy-kit (call them from your own pytest suite)."""

from __future__ import annotations

from typing import Any

from litestar_alchemy_kit.canonical import qualified_name
from litestar_alchemy_kit.orm import audit_statement_cache

__all__ = ("assert_statement_cache_safe",)


def assert_statement_cache_safe(target: Any, *, ignore: tuple[type[Any], ...] = ()) -> None:
    """Fail the calling test when any column type makes SQLAlchemy's statement cache unsafe.

    Example::

        from litestar_alchemy_kit.testing import assert_statement_cache_safe
        from app.models import Base


        def test_models_are_statement_cache_safe() -> None:
            assert_statement_cache_safe(Base.metadata)

    Args:
        target: A ``MetaData``, declarative base, ``registry``, or a list of them.
        ignore: Type classes whose findings you have reviewed and accept (exact class match).

    Raises:
        AssertionError: Listing every finding, one per line.
    """
    ignored = {qualified_name(cls) for cls in ignore}
    findings = [f for f in audit_statement_cache(target) if f.type_name not in ignored]
    if findings:
        lines = "\n".join(f"  - {finding}" for finding in findings)
        msg = f"{len(findings)} column type(s) make sqlalchemy's statement cache unsafe:\n{lines}"
        raise AssertionError(msg)
