"""Engine connections no session owns: two-phase invalidation, over every sync engine and cache store (issue 10)."""

from __future__ import annotations

import pytest

from tests.integration.repository import _enginecommit_sync as scenarios
from tests.integration.repository.conftest import Env


def _applies(env: Env, form: str) -> None:
    if form == "autocommit" and env.engine == "duckdb":
        pytest.skip("duckdb-engine has no AUTOCOMMIT isolation level")


@pytest.mark.parametrize("form", scenarios.FORMS)
def test_engine_write_is_marked_until_settled(sync_env: Env, form: str) -> None:
    _applies(sync_env, form)
    scenarios.engine_write_is_marked_until_settled(sync_env, form)


@pytest.mark.parametrize("form", scenarios.FORMS)
def test_engine_write_refused_under_strict(sync_env: Env, form: str) -> None:
    _applies(sync_env, form)
    scenarios.engine_strict_refuses(sync_env, form)


@pytest.mark.parametrize("form", scenarios.FORMS)
def test_engine_write_recorded_in_the_outbox_under_available(sync_env: Env, form: str) -> None:
    _applies(sync_env, form)
    if sync_env.engine == "duckdb":
        pytest.skip("DuckDB: one process owns the database file, so no other process needs an outbox")
    scenarios.engine_available_records_the_outbox(sync_env, form)


@pytest.mark.parametrize("form", scenarios.XA_FORMS)
def test_two_phase_commit_invalidates(sync_env: Env, form: str) -> None:
    if sync_env.engine != "pymysql":
        pytest.skip(
            f"{sync_env.engine}: two-phase transactions run on MariaDB here (PostgreSQL's max_prepared_transactions is 0)"
        )
    scenarios.two_phase_commit_invalidates(sync_env, form)


@pytest.mark.parametrize("form", scenarios.XA_FORMS)
def test_two_phase_commit_refused_under_strict(sync_env: Env, form: str) -> None:
    if sync_env.engine != "pymysql":
        pytest.skip(f"{sync_env.engine}: two-phase transactions run on MariaDB here")
    scenarios.two_phase_strict_refuses(sync_env, form)
