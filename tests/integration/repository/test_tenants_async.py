"""Fine-grained invalidation (row and partition tags) over every async engine and store."""

from __future__ import annotations

import pytest

from tests.integration.repository import _tenants_async as scenarios
from tests.integration.repository.conftest import Env


async def test_row_moved_between_tenants(async_env: Env) -> None:
    await scenarios.row_moved_between_tenants(async_env)


async def test_bulk_update_by_other_column(async_env: Env) -> None:
    await scenarios.bulk_update_by_other_column(async_env)


async def test_insert_counts(async_env: Env) -> None:
    await scenarios.insert_counts(async_env)


async def test_delete_counts(async_env: Env) -> None:
    await scenarios.delete_counts(async_env)


async def test_write_through_relationship(async_env: Env) -> None:
    await scenarios.write_through_relationship(async_env)


async def test_join_with_tenant_filtered_child(async_env: Env) -> None:
    await scenarios.join_with_tenant_filtered_child(async_env)


async def test_interleaved_sessions_one_partition(async_env: Env) -> None:
    await scenarios.interleaved_sessions_one_partition(async_env)


async def test_get_analysis_shared_only_alike(async_env: Env) -> None:
    await scenarios.get_analysis_shared_only_alike(async_env)


async def test_recorded_read_with_tenant_passed_beside(async_env: Env) -> None:
    await scenarios.recorded_read_with_tenant_passed_beside(async_env)


async def test_tenant_computed_by_the_database(async_env: Env) -> None:
    await scenarios.tenant_computed_by_the_database(async_env)


@pytest.mark.parametrize("one_transaction", [False, True], ids=["loaded-before", "loaded-in-it"])
@pytest.mark.parametrize("delete", [False, True], ids=["update", "delete"])
async def test_stale_session_writes_where_the_row_is(async_env: Env, delete: bool, one_transaction: bool) -> None:
    await scenarios.stale_session_writes_where_the_row_is(async_env, delete=delete, one_transaction=one_transaction)


async def test_unchanged_row_is_not_read(async_env: Env) -> None:
    await scenarios.unchanged_row_is_not_read(async_env)


async def test_stale_rows_written_in_one_flush(async_env: Env) -> None:
    await scenarios.stale_rows_written_in_one_flush(async_env)


@pytest.mark.parametrize("expression", [False, True], ids=["value", "sql-expression"])
async def test_later_listener_moves_a_row(async_env: Env, expression: bool) -> None:
    await scenarios.later_listener_moves_a_row(async_env, expression=expression)


@pytest.mark.parametrize(
    ("how", "expired"),
    [("value", False), ("expression", False), ("move", False), ("expression", True), ("move", True)],
    ids=["value", "expression", "move", "expression-on-expired", "move-on-expired"],
)
async def test_later_listener_writes_an_unchanged_row(async_env: Env, how: str, expired: bool) -> None:
    await scenarios.later_listener_writes_an_unchanged_row(async_env, how=how, expired=expired)


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale"])
async def test_row_switch_moves_a_row(async_env: Env, stale: bool) -> None:
    await scenarios.row_switch_moves_a_row(async_env, stale=stale)


async def test_tenant_set_to_a_sql_expression(async_env: Env) -> None:
    await scenarios.tenant_set_to_a_sql_expression(async_env)


async def test_raw_or_beside_the_tenant_filter(async_env: Env) -> None:
    await scenarios.raw_or_beside_the_tenant_filter(async_env)


async def test_raw_or_beside_a_tenant_equality_is_no_partition_read(async_env: Env) -> None:
    await scenarios.raw_or_beside_a_tenant_equality_is_no_partition_read(async_env)


async def test_tenant_bind_sharing_its_name(async_env: Env) -> None:
    await scenarios.tenant_bind_sharing_its_name(async_env)


async def test_get_through_a_raw_base_statement(async_env: Env) -> None:
    await scenarios.get_through_a_raw_base_statement(async_env)


async def test_tenant_bound_update_many_takes_dicts(async_env: Env) -> None:
    await scenarios.tenant_bound_update_many_takes_dicts(async_env)


async def test_tenant_bound_update_many_skips_a_row_moved_meanwhile(async_env: Env) -> None:
    await scenarios.tenant_bound_update_many_skips_a_row_moved_meanwhile(async_env)


async def test_tenant_bound_delete_many_by_a_key_unique_per_tenant(async_env: Env) -> None:
    await scenarios.tenant_bound_delete_many_by_a_key_unique_per_tenant(async_env)


async def test_tenant_bound_delete_many_by_composite_key(async_env: Env) -> None:
    await scenarios.tenant_bound_delete_many_by_composite_key(async_env)


async def test_tenant_bound_keyword_writes_stay_in_the_tenant(async_env: Env) -> None:
    await scenarios.tenant_bound_keyword_writes_stay_in_the_tenant(async_env)
