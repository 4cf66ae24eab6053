"""Engine connections no session owns: two-phase invalidation, over every async engine and cache store (issue 10)."""

from __future__ import annotations

import pytest

from tests.integration.repository import _enginecommit_async as scenarios
from tests.integration.repository.conftest import Env


def _applies(env: Env, form: str) -> None:
    if form == "autocommit" and env.engine == "duckdb":
        pytest.skip("duckdb-engine has no AUTOCOMMIT isolation level")


@pytest.mark.parametrize("form", scenarios.FORMS)
async def test_engine_write_is_marked_until_settled(async_env: Env, form: str) -> None:
    _applies(async_env, form)
    await scenarios.engine_write_is_marked_until_settled(async_env, form)


@pytest.mark.parametrize("form", scenarios.FORMS)
async def test_engine_write_refused_under_strict(async_env: Env, form: str) -> None:
    _applies(async_env, form)
    await scenarios.engine_strict_refuses(async_env, form)


@pytest.mark.parametrize("form", scenarios.FORMS)
async def test_engine_write_recorded_in_the_outbox_under_available(async_env: Env, form: str) -> None:
    _applies(async_env, form)
    if async_env.engine == "duckdb":
        pytest.skip("DuckDB: one process owns the database file, so no other process needs an outbox")
    await scenarios.engine_available_records_the_outbox(async_env, form)


@pytest.mark.parametrize("form", scenarios.XA_FORMS)
async def test_two_phase_commit_invalidates(async_env: Env, form: str) -> None:
    if async_env.engine != "asyncmy":
        pytest.skip(
            f"{async_env.engine}: two-phase transactions run on MariaDB here (PostgreSQL's max_prepared_transactions is 0)"
        )
    await scenarios.two_phase_commit_invalidates(async_env, form)


@pytest.mark.parametrize("form", scenarios.XA_FORMS)
async def test_two_phase_commit_refused_under_strict(async_env: Env, form: str) -> None:
    if async_env.engine != "asyncmy":
        pytest.skip(f"{async_env.engine}: two-phase transactions run on MariaDB here")
    await scenarios.two_phase_strict_refuses(async_env, form)
