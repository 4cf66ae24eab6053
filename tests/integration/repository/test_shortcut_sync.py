"""The ``get(pk)`` shortcut's own checks, and stale sets inside transactions, over every sync engine and store."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import sessionmaker

from tests.integration.repository import _shortcut_sync as scenarios
from tests.integration.repository import _sync as invariants
from tests.integration.repository._routing import routed_session_class
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import RepoBase

_NO_LEVEL = "duckdb: no isolation level lets a read inside a transaction populate"


def test_primary_key_read_sees_own_uncommitted_update(sync_env: Env) -> None:
    scenarios.primary_key_read_sees_own_uncommitted_update(sync_env)


def test_primary_key_read_never_publishes_uncommitted(sync_env: Env) -> None:
    if sync_env.engine == "duckdb":
        pytest.skip(_NO_LEVEL)
    if sync_env.engine == "sqlite":
        pytest.skip("sqlite: no isolation level with transactions lets a read inside one populate")
    level = scenarios.populating_level(sync_env.engine)
    scenarios.primary_key_read_never_publishes_uncommitted(scenarios.populating_env(sync_env, level))


@pytest.fixture
def other_engine(sync_env: Env, second_database: Callable[[URL], URL]) -> Iterator[Engine]:
    engine = create_engine(second_database(sync_env.engine_object.url))
    RepoBase.metadata.drop_all(engine)
    RepoBase.metadata.create_all(engine)
    yield engine
    RepoBase.metadata.drop_all(engine)
    engine.dispose()


def test_primary_key_read_follows_bind_group(sync_env: Env, other_engine: Engine) -> None:
    routed = sessionmaker(
        sync_env.engine_object, class_=routed_session_class({"other": other_engine}), expire_on_commit=False
    )
    scenarios.primary_key_read_follows_bind_group(sync_env, routed, other_engine)


def test_slow_reader_never_installs_stale_inside_transactions(sync_env: Env) -> None:
    """The forced interleaving of invariant 3 where a read inside a transaction populates (so order matters)."""
    if sync_env.engine == "duckdb":
        pytest.skip(_NO_LEVEL)
    env = scenarios.populating_env(sync_env, scenarios.populating_level(sync_env.engine))
    invariants.slow_reader_never_installs_stale(env, iterations=3)
    scenarios.reads_inside_transactions_populate(env)


def test_attached_reads_come_from_the_session(sync_env: Env) -> None:
    scenarios.attached_reads_come_from_the_session(sync_env)


def test_attached_hits_behave_like_a_query(sync_env: Env) -> None:
    scenarios.attached_hits_behave_like_a_query(sync_env)
