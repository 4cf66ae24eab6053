"""Row locks of the flush's reads of a row's tenant: no stronger than the write's own, and taken from the read on."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ForeignKey, String, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from litestar_alchemy_kit.orm import tenant_column
from tests.integration.repository import _tenants_sync as scenarios
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Project, Task


class LockBase(DeclarativeBase):
    """A table of its own: the rows of one test."""


class Node(LockBase):
    """A tenant-owned row pointing at another through a ``post_update`` relationship."""

    __tablename__ = "lak_lock_node"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[int] = tenant_column()
    buddy_id: Mapped[int | None] = mapped_column(ForeignKey("lak_lock_node.id"))
    buddy: Mapped[Node | None] = relationship(remote_side="Node.id", post_update=True)


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


_LOCK_WAIT = {
    "psycopg_sync": "SET lock_timeout = '300ms'",
    "pymysql": "SET SESSION innodb_lock_wait_timeout = 1",
}


@pytest.mark.parametrize(
    "same", ["", "tenant", "name"], ids=["buddy-only", "same-tenant-assigned", "same-name-assigned"]
)
@pytest.mark.parametrize("rows", [1, 2], ids=["one-row", "a-batch"])
def test_a_post_update_row_is_held_from_its_read(sync_env: Env, rows: int, same: str) -> None:
    """A row whose only change is a ``post_update`` relationship is written by a second UPDATE, after the flush
    has read its tenant: the read locks the row, so no transaction moves it to another tenant in between (the
    partition bumped would then not be the one written).

    Another transaction tries to move the row just before the first such UPDATE runs: it must wait (and give
    up). ``rows``: how many rows of the flush point at row 3 (two are read back in one statement). ``same``: a
    column is also assigned the value it has (a DTO copy): no change, so no UPDATE of the save holds the row.
    """
    if sync_env.engine not in _LOCK_WAIT:
        pytest.skip("row locks: PostgreSQL and MariaDB (SQLite and DuckDB have none)")
    engine: Any = sync_env.engine_object
    LockBase.metadata.drop_all(engine)
    LockBase.metadata.create_all(engine)
    outcomes: list[str] = []

    def move_before_the_post_update(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if outcomes or not statement.startswith("UPDATE lak_lock_node SET buddy_id"):
            return
        with engine.connect() as other:
            other.execute(text(_LOCK_WAIT[sync_env.engine]))
            try:
                other.execute(text("UPDATE lak_lock_node SET tenant = 2 WHERE id = 1"))
            except DBAPIError:
                outcomes.append("waited")
                other.rollback()
            else:
                outcomes.append("moved")
                other.commit()

    try:
        with sync_env.sessionmaker() as session:
            session.add_all([Node(id=number, name=f"n{number}", tenant=1) for number in (1, 2, 3)])
            session.commit()
        with sync_env.bound(sync_env.make_cache())() as session:
            target = session.get(Node, 3)
            pointing = [session.get(Node, number) for number in range(1, rows + 1)]  # all loaded before any change
            for row in pointing:
                assert row is not None
                row.buddy = target
                if same:
                    setattr(row, same, getattr(row, same))
            event.listen(engine, "before_cursor_execute", move_before_the_post_update)
            try:
                session.commit()
            finally:
                event.remove(engine, "before_cursor_execute", move_before_the_post_update)
        assert outcomes == ["waited"]
    finally:
        LockBase.metadata.drop_all(engine)


class Plain(LockBase):
    """A small tenant-owned table: MariaDB reads most of it through the tenant index (which covers the key)."""

    __tablename__ = "lak_lock_plain"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[int] = tenant_column()


def test_reading_updated_rows_back_locks_nothing_more(sync_env: Env) -> None:
    """The read of rows after their UPDATEs takes no lock: the UPDATEs hold them already, and a locking read
    could hold more (on MariaDB, every row and gap of the index it scans). While a flush that renamed rows 1 and
    2 is uncommitted, another transaction updates row 3 and inserts rows without waiting.
    """
    if sync_env.engine not in _LOCK_WAIT:
        pytest.skip("row locks: PostgreSQL and MariaDB (SQLite and DuckDB have none)")
    engine: Any = sync_env.engine_object
    LockBase.metadata.drop_all(engine)
    LockBase.metadata.create_all(engine)
    try:
        with sync_env.sessionmaker() as session:
            session.add_all([Plain(id=number, name=f"r{number}", tenant=1 + number % 2) for number in (10, 20, 30)])
            session.commit()
        with sync_env.bound(sync_env.make_cache())() as session:
            rows = [session.get(Plain, number) for number in (10, 20)]
            for row in rows:
                assert row is not None
                row.name = f"{row.name}-renamed"
            session.flush()  # the rows' tenants are read back here; the transaction stays open
            with engine.connect() as other:
                other.execute(text(_LOCK_WAIT[sync_env.engine]))
                other.execute(text("UPDATE lak_lock_plain SET name = 'other' WHERE id = 30"))
                other.execute(text("INSERT INTO lak_lock_plain (id, name, tenant) VALUES (15, 'n', 1), (35, 'n', 2)"))
                other.commit()
            session.commit()
    finally:
        LockBase.metadata.drop_all(engine)
