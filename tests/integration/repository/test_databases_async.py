"""Writes to this database through an engine on another one, over every async engine and cache store where they apply."""

from __future__ import annotations

import pytest

from tests.integration.repository import _databases_async as scenarios
from tests.integration.repository.conftest import Env

# PostgreSQL: a connection writes its own database only; a schema is not a database
CROSS_DATABASE = {"asyncmy", "aiosqlite"}


def _applies(env: Env) -> None:
    if env.engine == "duckdb":
        pytest.skip("duckdb: one process holds the file, so another connection cannot attach it")
    if env.engine not in CROSS_DATABASE:
        pytest.skip(f"{env.engine}: a connection cannot write another database there")


@pytest.mark.parametrize("form", scenarios.FORMS)
async def test_write_to_this_database_through_another_invalidates(async_env: Env, form: str) -> None:
    _applies(async_env)
    await scenarios.write_to_this_database_invalidates(async_env, form)


async def test_commits_reach_the_databases_they_write(async_env: Env) -> None:
    _applies(async_env)
    await scenarios.commits_reach_the_databases_they_write(async_env)
