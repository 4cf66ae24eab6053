"""The read before a move locks its row no more than the move's UPDATE does (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.repository import _tenants_sync as scenarios
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Project, Task


def test_a_move_does_not_wait_for_a_child_insert(sync_env: Env) -> None:
    """A child row inserted in another open transaction holds ``KEY SHARE`` on its parent; moving the parent
    to another tenant (an UPDATE of a non-key column, ``FOR NO KEY UPDATE``) goes ahead, read included.

    A read taking ``FOR UPDATE`` would wait for that transaction (and deadlock when it then updates the parent).
    """
    if sync_env.engine != "psycopg_sync":
        pytest.skip("PostgreSQL's row lock modes: MySQL/MariaDB's UPDATE waits for the child's lock as well")
    ids = scenarios.seed(sync_env)
    cache = sync_env.make_cache()
    with sync_env.bound(cache)() as child_writer, sync_env.bound(cache)() as mover:
        child_writer.add(Task(title="x", tenant=1, project_id=ids["p2"]))
        child_writer.flush()  # its transaction stays open, holding KEY SHARE on p2
        mover.execute(text("SET LOCAL lock_timeout = '3s'"))
        moved = mover.get(Project, ids["p2"])
        assert moved is not None
        moved.tenant = 2
        mover.commit()  # a stronger lock would fail here (lock_timeout)
        child_writer.commit()
    assert scenarios.projects(sync_env, sync_env.make_cache(), 2) == ["p2", "p3"]
