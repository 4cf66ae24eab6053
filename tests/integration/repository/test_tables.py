"""The scenario tables' reset between tests (``_tables``): only rows are ever kept from one test to the next."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, func, inspect, select, text

from tests.integration.repository import _tables
from tests.integration.repository.models import Item, Label, RepoBase

pytestmark = [pytest.mark.integration]

SERVER_ENGINES = {"psycopg_sync", "pymysql"}


@pytest.fixture
def server_engine(sync_engine: Engine, request: pytest.FixtureRequest) -> Engine:
    if request.node.callspec.params["sync_engine"] not in SERVER_ENGINES:
        pytest.skip("a database of the test's own tmp_path is new for every test")
    return sync_engine


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Item)).scalar_one())


def _prepared(engine: Engine) -> None:
    with engine.begin() as conn:
        _tables.prepare(conn)


def _released(engine: Engine) -> None:
    with engine.begin() as conn:
        _tables.release(conn)


def test_rows_are_emptied_and_the_tables_kept(server_engine: Engine) -> None:
    _prepared(server_engine)
    with server_engine.begin() as conn:
        conn.execute(Item.__table__.insert().values(id=uuid.uuid4(), name="kept?", quantity=1, tenant="a"))
    _released(server_engine)
    assert inspect(server_engine).has_table(Item.__tablename__)
    assert _rows(server_engine) == 0
    with server_engine.begin() as conn:  # rows written between tests (outside any scenario) are emptied too
        conn.execute(Item.__table__.insert().values(id=uuid.uuid4(), name="stray", quantity=1, tenant="a"))
    _prepared(server_engine)
    assert _rows(server_engine) == 0
    _released(server_engine)


def test_a_trigger_left_behind_is_dropped_with_the_tables(server_engine: Engine) -> None:
    _prepared(server_engine)
    item, label = Item.__tablename__, Label.__tablename__
    with server_engine.begin() as conn:
        if server_engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION lak_left_behind() RETURNS trigger LANGUAGE plpgsql AS "
                    f"$$ BEGIN INSERT INTO {label} (id, name) VALUES (gen_random_uuid(), NEW.name); RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER lak_left_behind AFTER INSERT ON {item} FOR EACH ROW EXECUTE FUNCTION lak_left_behind()"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE TRIGGER lak_left_behind AFTER INSERT ON {item} FOR EACH ROW "
                    f"INSERT INTO {label} (id, name) VALUES (UUID(), NEW.name)"
                )
            )
    try:
        _released(server_engine)
        assert not inspect(server_engine).has_table(item), "a changed schema must not outlive its test"
        _prepared(server_engine)
        with server_engine.begin() as conn:
            conn.execute(Item.__table__.insert().values(id=uuid.uuid4(), name="no trigger", quantity=1, tenant="a"))
            assert conn.execute(select(func.count()).select_from(Label)).scalar_one() == 0
    finally:
        RepoBase.metadata.drop_all(server_engine)
        if server_engine.dialect.name == "postgresql":
            with server_engine.begin() as conn:
                conn.execute(text("DROP FUNCTION IF EXISTS lak_left_behind()"))


def test_a_column_added_is_seen(server_engine: Engine) -> None:
    _prepared(server_engine)
    with server_engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {Item.__tablename__} ADD COLUMN lak_extra INTEGER"))
    _prepared(server_engine)
    columns = {column["name"] for column in inspect(server_engine).get_columns(Item.__tablename__)}
    assert "lak_extra" not in columns
    _released(server_engine)


def _fk_name(engine: Engine) -> str:
    (fk,) = inspect(engine).get_foreign_keys("lak_repo_book")
    return str(fk["name"])


@pytest.mark.parametrize("change", ["fk_on_delete_cascade", "collation"])
def test_schema_change_the_shape_misses_outlives_its_test(server_engine: Engine, change: str) -> None:
    """A test re-creates lak_repo_book's foreign key under the same name with ON DELETE CASCADE, or changes a column's
    collation: the shape (constraint name and type; column type id and typmod / COLUMN_TYPE) is unchanged, so the
    next test gets the tables emptied, not re-created, with the change in place."""
    engine = server_engine
    postgres = engine.dialect.name == "postgresql"
    _prepared(engine)
    try:
        with engine.begin() as conn:
            if change == "fk_on_delete_cascade":
                name = _fk_name(engine)
                if postgres:
                    conn.execute(text(f'ALTER TABLE lak_repo_book DROP CONSTRAINT "{name}"'))
                else:
                    conn.execute(text(f"ALTER TABLE lak_repo_book DROP FOREIGN KEY `{name}`"))
                conn.execute(
                    text(
                        f"ALTER TABLE lak_repo_book ADD CONSTRAINT {name} FOREIGN KEY (author_id) "
                        "REFERENCES lak_repo_author (id) ON DELETE CASCADE"
                    )
                )
            elif postgres:
                conn.execute(text('ALTER TABLE lak_repo_item ALTER COLUMN name TYPE VARCHAR(50) COLLATE "C"'))
            else:
                conn.execute(text("ALTER TABLE lak_repo_item MODIFY name VARCHAR(50) COLLATE utf8mb4_bin NOT NULL"))
        _released(engine)  # the end of "that" test
        _prepared(engine)  # the start of the next
        inspector = inspect(engine)
        if change == "fk_on_delete_cascade":
            (fk,) = inspector.get_foreign_keys("lak_repo_book")
            assert not (fk.get("options") or {}).get("ondelete"), "the next test's foreign key cascades"
        else:
            (column,) = [c for c in inspector.get_columns("lak_repo_item") if c["name"] == "name"]
            collation = getattr(column["type"], "collation", None)
            assert collation in {None, ""}, f"the next test's lak_repo_item.name has collation {collation}"
    finally:
        RepoBase.metadata.drop_all(engine)
