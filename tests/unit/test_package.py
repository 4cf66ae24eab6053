"""The installed package: public API and import hygiene."""

from __future__ import annotations

import subprocess
import sys

import litestar_alchemy_kit


def test_public_api_is_importable_and_unique() -> None:
    names = litestar_alchemy_kit.__all__
    assert isinstance(names, tuple)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(litestar_alchemy_kit, name) is not None, name


def test_import_pulls_in_no_optional_dependency() -> None:
    optional = (
        "redis",
        "valkey",
        "jwt",
        "asyncpg",
        "psycopg",
        "asyncmy",
        "pymysql",
        "aiosqlite",
        "duckdb",
        "opentelemetry.sdk",
    )
    code = (
        "import sys, litestar_alchemy_kit, litestar_alchemy_kit.repository, litestar_alchemy_kit.testing;"
        f"print(','.join(m for m in {optional!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
