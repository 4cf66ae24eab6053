"""Drop-in for AA users (issue 17) over every async engine, with an in-process store, Redis and Valkey."""

from __future__ import annotations

from tests.integration.repository import _dropin_async as scenarios
from tests.integration.repository.conftest import Env


async def test_service_takes_one_type_argument(async_env: Env) -> None:
    await scenarios.service_takes_one_type_argument(async_env)


async def test_cache_and_cache_manager_together_are_refused(async_env: Env) -> None:
    await scenarios.cache_and_cache_manager_together_are_refused(async_env)


async def test_explicit_cache_manager_is_honoured(async_env: Env) -> None:
    await scenarios.explicit_cache_manager_is_honoured(async_env)


async def test_config_cache_manager_without_kit_cache_is_honoured(async_env: Env) -> None:
    await scenarios.config_cache_manager_without_kit_cache_is_honoured(async_env)


async def test_kit_cache_replaces_config_cache_manager(async_env: Env) -> None:
    await scenarios.kit_cache_replaces_config_cache_manager(async_env)


async def test_service_over_repository_skipping_init(async_env: Env) -> None:
    await scenarios.service_over_repository_skipping_init(async_env)


async def test_service_over_plain_aa_repository(async_env: Env) -> None:
    await scenarios.service_over_plain_aa_repository(async_env)
