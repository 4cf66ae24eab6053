"""AA's GUID(binary=...) on real engines: SQLAlchemy's statement cache reuses the first compiled form.

``binary`` is not part of GUID's cache key, so after a ``binary=True`` statement ran, the same
statement with a ``binary=False`` parameter is bound as bytes on SQLite and MySQL/MariaDB (on
PostgreSQL and DuckDB GUID binds a native UUID whatever ``binary`` says). The audit reports the
type, and ``analyze`` refuses to fingerprint such statements, so the kit's cache never stores them.
"""

from __future__ import annotations

import uuid
from typing import Any

from advanced_alchemy.types import GUID
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from litestar_alchemy_kit.orm.audit import audit_statement_cache
from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo, analyze

metadata = MetaData()
codes = Table(
    "lak_stmt_guid_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("code", GUID(binary=False)),
)
CODE = uuid.UUID("12345678-1234-5678-1234-567812345678")
BINARY_AWARE = {"sqlite", "mysql", "mariadb"}


def _lookup(*, binary: bool) -> Any:
    return select(codes.c.id).where(codes.c.code == literal(CODE, GUID(binary=binary)))


def _demo(conn: Connection) -> dict[str, list[int]]:
    metadata.drop_all(conn)
    metadata.create_all(conn)
    try:
        conn.execute(insert(codes).values(id=1, code=CODE))
        uncached = {"compiled_cache": None}  # per call: Connection.execution_options() would change conn itself
        return {
            "hex_fresh": list(conn.scalars(_lookup(binary=False), execution_options=uncached)),
            "bytes_first": list(conn.scalars(_lookup(binary=True))),
            "hex_after_bytes": list(conn.scalars(_lookup(binary=False))),
        }
    finally:
        metadata.drop_all(conn)


def _check(results: dict[str, list[int]], dialect_name: str) -> None:
    assert results["hex_fresh"] == [1]
    if dialect_name in BINARY_AWARE:
        assert results["bytes_first"] == []
        # the bug: the binary=False parameter was bound with the cached binary=True processor
        assert results["hex_after_bytes"] == []
    else:
        assert results["bytes_first"] == [1]
        assert results["hex_after_bytes"] == [1]


def _kit_refuses(dialect: Any) -> None:
    for binary in (True, False):
        result = analyze(_lookup(binary=binary), dialect=dialect)
        assert isinstance(result, Bypass)
        assert "binary" in result.reason
    # the column-bound comparison is unambiguous (the type comes from the table) and stays cacheable
    assert isinstance(analyze(select(codes.c.id).where(codes.c.code == CODE), dialect=dialect), StatementInfo)


def test_audit_reports_guid() -> None:
    findings = audit_statement_cache(metadata)
    assert [(f.column, f.problem, f.type_name) for f in findings] == [
        ("code", "state_not_in_cache_key", "advanced_alchemy.types.guid:GUID")
    ]


def test_guid_statement_cache_bug_sync(sync_engine: Engine) -> None:
    with sync_engine.begin() as conn:
        results = _demo(conn)
    _check(results, sync_engine.dialect.name)
    _kit_refuses(sync_engine.dialect)


async def test_guid_statement_cache_bug_async(async_engine: AsyncEngine) -> None:
    async with async_engine.begin() as conn:
        results = await conn.run_sync(_demo)
    _check(results, async_engine.dialect.name)
    _kit_refuses(async_engine.dialect)
