from __future__ import annotations

from typing import Any

import pytest
from duckdb_engine import Dialect as DuckDBDialect
from sqlalchemy.dialects import mysql, postgresql, sqlite

DIALECTS: dict[str, Any] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),
    "mysql": mysql.dialect(),
    "duckdb": DuckDBDialect(),
}


@pytest.fixture(params=sorted(DIALECTS))
def dialect(request: pytest.FixtureRequest) -> Any:
    """Compile-only dialect objects: analysis never talks to a database."""
    return DIALECTS[request.param]
