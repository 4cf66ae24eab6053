"""Deprecated location of the statement-cache audit: import from :mod:`litestar_alchemy_kit.orm`."""

import warnings

from litestar_alchemy_kit.orm.audit import AuditFinding, AuditProblem, audit_statement_cache

__all__ = ("AuditFinding", "AuditProblem", "audit_statement_cache")
__deprecated__ = "import from litestar_alchemy_kit.orm; removed in 0.3"

warnings.warn(
    "litestar_alchemy_kit.audit is deprecated and will be removed in 0.3; import from litestar_alchemy_kit.orm",
    DeprecationWarning,
    stacklevel=2,
)
