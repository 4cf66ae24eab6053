"""Fine-grained invalidation (row and partition tags) over every sync engine and store."""

from __future__ import annotations

import pytest

from tests.integration.repository import _tenants_sync as scenarios
from tests.integration.repository.conftest import Env


def test_row_moved_between_tenants(sync_env: Env) -> None:
    scenarios.row_moved_between_tenants(sync_env)


def test_bulk_update_by_other_column(sync_env: Env) -> None:
    scenarios.bulk_update_by_other_column(sync_env)


def test_insert_counts(sync_env: Env) -> None:
    scenarios.insert_counts(sync_env)


def test_delete_counts(sync_env: Env) -> None:
    scenarios.delete_counts(sync_env)


def test_write_through_relationship(sync_env: Env) -> None:
    scenarios.write_through_relationship(sync_env)


def test_join_with_tenant_filtered_child(sync_env: Env) -> None:
    scenarios.join_with_tenant_filtered_child(sync_env)


def test_interleaved_sessions_one_partition(sync_env: Env) -> None:
    scenarios.interleaved_sessions_one_partition(sync_env)


def test_get_analysis_shared_only_alike(sync_env: Env) -> None:
    scenarios.get_analysis_shared_only_alike(sync_env)


def test_recorded_read_with_tenant_passed_beside(sync_env: Env) -> None:
    scenarios.recorded_read_with_tenant_passed_beside(sync_env)


def test_tenant_computed_by_the_database(sync_env: Env) -> None:
    scenarios.tenant_computed_by_the_database(sync_env)


@pytest.mark.parametrize("one_transaction", [False, True], ids=["loaded-before", "loaded-in-it"])
@pytest.mark.parametrize("delete", [False, True], ids=["update", "delete"])
def test_stale_session_writes_where_the_row_is(sync_env: Env, delete: bool, one_transaction: bool) -> None:
    scenarios.stale_session_writes_where_the_row_is(sync_env, delete=delete, one_transaction=one_transaction)


def test_unchanged_row_is_not_read(sync_env: Env) -> None:
    scenarios.unchanged_row_is_not_read(sync_env)


def test_stale_rows_written_in_one_flush(sync_env: Env) -> None:
    scenarios.stale_rows_written_in_one_flush(sync_env)


@pytest.mark.parametrize("expression", [False, True], ids=["value", "sql-expression"])
def test_later_listener_moves_a_row(sync_env: Env, expression: bool) -> None:
    scenarios.later_listener_moves_a_row(sync_env, expression=expression)


@pytest.mark.parametrize(
    ("how", "expired"),
    [("value", False), ("expression", False), ("move", False), ("expression", True), ("move", True)],
    ids=["value", "expression", "move", "expression-on-expired", "move-on-expired"],
)
def test_later_listener_writes_an_unchanged_row(sync_env: Env, how: str, expired: bool) -> None:
    scenarios.later_listener_writes_an_unchanged_row(sync_env, how=how, expired=expired)


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale"])
def test_row_switch_moves_a_row(sync_env: Env, stale: bool) -> None:
    scenarios.row_switch_moves_a_row(sync_env, stale=stale)


def test_tenant_set_to_a_sql_expression(sync_env: Env) -> None:
    scenarios.tenant_set_to_a_sql_expression(sync_env)


def test_raw_or_beside_the_tenant_filter(sync_env: Env) -> None:
    scenarios.raw_or_beside_the_tenant_filter(sync_env)


def test_raw_or_beside_a_tenant_equality_is_no_partition_read(sync_env: Env) -> None:
    scenarios.raw_or_beside_a_tenant_equality_is_no_partition_read(sync_env)


def test_tenant_bind_sharing_its_name(sync_env: Env) -> None:
    scenarios.tenant_bind_sharing_its_name(sync_env)


def test_get_through_a_raw_base_statement(sync_env: Env) -> None:
    scenarios.get_through_a_raw_base_statement(sync_env)


def test_tenant_bound_update_many_takes_dicts(sync_env: Env) -> None:
    scenarios.tenant_bound_update_many_takes_dicts(sync_env)


def test_tenant_bound_update_many_skips_a_row_moved_meanwhile(sync_env: Env) -> None:
    scenarios.tenant_bound_update_many_skips_a_row_moved_meanwhile(sync_env)


def test_tenant_bound_delete_many_by_a_key_unique_per_tenant(sync_env: Env) -> None:
    scenarios.tenant_bound_delete_many_by_a_key_unique_per_tenant(sync_env)


def test_tenant_bound_delete_many_by_composite_key(sync_env: Env) -> None:
    scenarios.tenant_bound_delete_many_by_composite_key(sync_env)


def test_tenant_bound_keyword_writes_stay_in_the_tenant(sync_env: Env) -> None:
    scenarios.tenant_bound_keyword_writes_stay_in_the_tenant(sync_env)
