"""Drop-in for AA users (issue 17) over every sync engine, with an in-process store, Redis and Valkey."""

from __future__ import annotations

from tests.integration.repository import _dropin_sync as scenarios
from tests.integration.repository.conftest import Env


def test_service_takes_one_type_argument(sync_env: Env) -> None:
    scenarios.service_takes_one_type_argument(sync_env)


def test_cache_and_cache_manager_together_are_refused(sync_env: Env) -> None:
    scenarios.cache_and_cache_manager_together_are_refused(sync_env)


def test_explicit_cache_manager_is_honoured(sync_env: Env) -> None:
    scenarios.explicit_cache_manager_is_honoured(sync_env)


def test_config_cache_manager_without_kit_cache_is_honoured(sync_env: Env) -> None:
    scenarios.config_cache_manager_without_kit_cache_is_honoured(sync_env)


def test_kit_cache_replaces_config_cache_manager(sync_env: Env) -> None:
    scenarios.kit_cache_replaces_config_cache_manager(sync_env)


def test_service_over_repository_skipping_init(sync_env: Env) -> None:
    scenarios.service_over_repository_skipping_init(sync_env)


def test_service_over_plain_aa_repository(sync_env: Env) -> None:
    scenarios.service_over_plain_aa_repository(sync_env)
