"""The scenario tables (:data:`RepoBase.metadata`) around each test: created fresh, or kept and emptied.

Creating and dropping the tables for every test on PostgreSQL and MariaDB cost about a tenth of the suite's time
(and most of its disk flushes). A test that changed nothing but rows leaves the tables as they were created, so the
next test only empties them. Whether anything else changed is read from the catalog, not assumed: the *shape* of the
database (its schemas, relations, columns, constraints, indexes, triggers, rules, policies, functions, types and
extensions) is compared with the shape recorded right after the tables were last created. Any difference (a test's
trigger, view, function or column left behind) and the tables are dropped and created again, as before.

A SQLite or DuckDB file of a test's own is copied from a template this process made once (:func:`seed`): creating the
tables in a new DuckDB file took a fifth of a second per test.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine

from tests.integration.repository.models import RepoBase

__all__ = ("prepare", "release", "seed")

_SYSTEM = "nspname LIKE 'pg\\_%' OR nspname = 'information_schema'"
_POSTGRES_SHAPE = f"""
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
  SELECT concat_ws(':', 'n', nspname) FROM pg_namespace WHERE NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'r', c.oid::regclass, c.relkind, c.relhastriggers, c.relhasrules, c.relrowsecurity,
                             c.relispartition)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'a', a.attrelid::regclass, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
                             a.attcollation, a.attgenerated, md5(coalesce(pg_get_expr(d.adbin, d.adrelid), '')))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'v', c.oid::regclass, md5(pg_get_viewdef(c.oid)))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'i', i.indexrelid::regclass, md5(pg_get_indexdef(i.indexrelid)))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'w', r.ev_class::regclass, r.rulename, md5(pg_get_ruledef(r.oid))) FROM pg_rewrite r
    JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'k', k.conrelid::regclass, k.conname, md5(pg_get_constraintdef(k.oid)))
    FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 't', tgrelid::regclass, tgname, tgenabled, md5(pg_get_triggerdef(oid))) FROM pg_trigger
  UNION ALL SELECT concat_ws(':', 'y', polrelid::regclass, polname, polcmd, polpermissive,
                             md5(coalesce(pg_get_expr(polqual, polrelid), '') || coalesce(pg_get_expr(polwithcheck, polrelid), '')))
    FROM pg_policy
  UNION ALL SELECT concat_ws(':', 'f', p.oid::regprocedure, md5(p.prosrc))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'd', t.oid::regtype, t.typtype)
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'c') AND NOT ({_SYSTEM})
  UNION ALL SELECT concat_ws(':', 'e', extname, extversion) FROM pg_extension
  UNION ALL SELECT concat_ws(':', 'l', enumtypid::regtype, enumlabel, enumsortorder) FROM pg_enum
) AS shape(x)
"""
_MYSQL_SHAPE = """
SELECT MD5(COALESCE(GROUP_CONCAT(x ORDER BY x SEPARATOR ','), '')) FROM (
  SELECT CONCAT_WS(':', 'r', TABLE_NAME, TABLE_TYPE) AS x FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'a', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '~'),
                             EXTRA, COALESCE(GENERATION_EXPRESSION, ''), COALESCE(COLLATION_NAME, ''))
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'i', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE)
    FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'k', TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE)
    FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'x', TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE)
    FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'c', TABLE_NAME, CONSTRAINT_NAME, MD5(CHECK_CLAUSE))
    FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'v', TABLE_NAME, MD5(VIEW_DEFINITION))
    FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 't', EVENT_OBJECT_TABLE, TRIGGER_NAME, MD5(ACTION_STATEMENT))
    FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'f', ROUTINE_TYPE, ROUTINE_NAME, MD5(COALESCE(ROUTINE_DEFINITION, '')))
    FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()
  UNION ALL SELECT CONCAT_WS(':', 'e', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()
) AS shape
"""
_SHAPES = {"postgresql": _POSTGRES_SHAPE, "mysql": _MYSQL_SHAPE, "mariadb": _MYSQL_SHAPE}

_created: dict[tuple[str, str | None, int | None, str | None], str] = {}
"""Per database (this process owns it): its shape right after the tables were last created."""


def _key(conn: Connection) -> tuple[str, str | None, int | None, str | None]:
    url = conn.engine.url
    return url.get_backend_name(), url.host, url.port, url.database


def _raw(conn: Connection, statement: str) -> Any:
    """Run ``statement`` on ``conn``'s DBAPI cursor, in its transaction; the first column of its first row, if any.

    Below SQLAlchemy's events: the kit's statement listeners have nothing to learn from the fixture's own
    housekeeping, and analysing it (the long catalog queries above all) cost a tenth of the scenarios' time.
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
        row = cursor.fetchone() if cursor.description else None
    finally:
        cursor.close()
    return None if row is None else row[0]


def _shape(conn: Connection) -> str | None:
    query = _SHAPES.get(conn.dialect.name)
    return None if query is None else str(_raw(conn, query))


_templates: dict[str, Path] = {}
"""Per file engine (``sqlite``, ``duckdb``): this process's file holding the scenario tables, empty (made by the first
:func:`seed`)."""
_seeded: set[str] = set()
"""Files :func:`seed` copied from a template: they hold the tables already."""


def seed(engine: Engine) -> None:
    """Before ``engine``'s first connection: a new SQLite or DuckDB file of its own becomes a copy of a template."""
    database, backend = engine.url.database, engine.dialect.name
    if not _file_engine(backend, database) or Path(str(database)).exists():
        return
    template = _templates.get(backend)
    if template is None:
        folder = tempfile.mkdtemp(prefix=f"lak-{backend}-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = Path(folder) / "template"
        # A sync driver of the same file format: aiosqlite's files are SQLite's.
        maker = create_engine(engine.url.set(drivername=backend, database=str(template)))
        with maker.begin() as conn:
            RepoBase.metadata.create_all(conn)
        maker.dispose()  # closed (DuckDB checkpoints on close): the file alone holds the tables
        _templates[backend] = template
    shutil.copyfile(template, database)
    _seeded.add(database)


def _fresh_file(conn: Connection) -> bool:
    """A SQLite or DuckDB file of the test's own ``tmp_path``: new at setup and never opened again."""
    return _file_engine(conn.dialect.name, conn.engine.url.database)


def _file_engine(backend: str, database: str | None) -> bool:
    return backend in {"sqlite", "duckdb"} and database not in {None, "", ":memory:"}


def _empty(conn: Connection) -> None:
    """Delete every row of the scenario tables, children first."""
    format_table = conn.dialect.identifier_preparer.format_table
    for table in reversed(RepoBase.metadata.sorted_tables):
        _raw(conn, f"DELETE FROM {format_table(table)}")


def _unchanged(conn: Connection) -> bool:
    recorded = _created.get(_key(conn))
    return recorded is not None and _shape(conn) == recorded


def prepare(conn: Connection) -> None:
    """Make the scenario tables exist, empty, as created (``conn`` in a transaction it commits)."""
    if _fresh_file(conn):
        if conn.engine.url.database in _seeded:
            _seeded.discard(conn.engine.url.database)  # the file is new once: the set stays small
        else:
            RepoBase.metadata.create_all(conn)
        return
    if _unchanged(conn):
        _empty(conn)
        return
    RepoBase.metadata.drop_all(conn)
    RepoBase.metadata.create_all(conn)
    if conn.dialect.name in _SHAPES:
        _created[_key(conn)] = str(_shape(conn))


def release(conn: Connection) -> None:
    """After a test: empty the tables if only rows changed, else drop them (nothing of a test outlives it)."""
    if _fresh_file(conn):
        return
    if _unchanged(conn):
        _empty(conn)
    else:
        RepoBase.metadata.drop_all(conn)
