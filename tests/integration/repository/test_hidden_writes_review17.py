"""Review 17: e6a3e69 (what a PostgreSQL write runs, read from ``pg_depend``) and 709fccc (tenant-bound ``update_many``
taking dicts and schemas).

Part 1 (PostgreSQL): a write ran a writing function :func:`~litestar_alchemy_kit.orm.pgwriteruns.pg_write_runs` did
not report, through a partitioned table's key (fixed: the table's and its ancestors' own dependencies are read), a
multirange over a range over a domain (fixed), a cast, a range's subtype operator class or an array element's
default operator class a column's type runs, and a ``pg_catalog`` function running SQL given as text (all fixed:
see ``orm/pgwriteruns.py``). Each scenario has a control.

Part 2: a tenant-bound ``update_many`` checked ``id_attribute`` while AA's bulk UPDATE matches by the mapper's primary
key: a row of another tenant was written when the two differ (fixed: the whole primary key is checked).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.pgwriteruns import pg_write_runs
from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository.conftest import Env
from tests.integration.repository.test_hidden_writes import _cleanup, _exec, _only, _reflect
from tests.integration.repository.test_hidden_writes_more import _audit_after, _raw

pytestmark = pytest.mark.parametrize("cache_store", ["memory_store"], indirect=True)

# ================================================================================================================
# Part 1: PostgreSQL, what a write runs
# ================================================================================================================

# the writer: one audit row ('w', whatever the arguments: a comparison support function may run it many times)
_WRITER = (
    "CREATE OR REPLACE FUNCTION lak_r17_w(a INTEGER, b INTEGER) RETURNS INTEGER AS $$ BEGIN "
    "INSERT INTO public.lak_hid_audit (id) VALUES ('w') ON CONFLICT DO NOTHING; RETURN a + b; END $$ "
    "LANGUAGE plpgsql"
)
# IMMUTABLE wrappers (what a partition key, an operator class or a range type accepts) calling the VOLATILE writer
_IMMUTABLE = (
    "CREATE OR REPLACE FUNCTION lak_r17_imm(a INTEGER) RETURNS INTEGER AS $$ BEGIN PERFORM lak_r17_w(a, 0); "
    "RETURN a; END $$ LANGUAGE plpgsql IMMUTABLE"
)
_CMP = (
    "CREATE OR REPLACE FUNCTION lak_r17_cmp(a INTEGER, b INTEGER) RETURNS INTEGER AS $$ BEGIN "
    "PERFORM lak_r17_w(0, 0); RETURN btint4cmp(a, b); END $$ LANGUAGE plpgsql IMMUTABLE"
)
_BTREE_OPS = (
    "CREATE OPERATOR CLASS lak_r17_ops FOR TYPE INTEGER USING btree AS OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, "
    "OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 lak_r17_cmp(INTEGER, INTEGER)"
)
_DROP_COMMON = (
    "DROP TABLE IF EXISTS lak_r17_par CASCADE",
    "DROP TABLE IF EXISTS lak_r17_t CASCADE",
    "DROP TYPE IF EXISTS lak_r17_rng CASCADE",
    "DROP CAST IF EXISTS (INTEGER AS lak_r17_e)",
    "DROP CAST IF EXISTS (lak_r17_e AS INTEGER)",
    "DROP OPERATOR FAMILY IF EXISTS lak_r17_ops USING btree CASCADE",
    "DROP OPERATOR FAMILY IF EXISTS lak_r17_ops USING hash CASCADE",
    "DROP OPERATOR FAMILY IF EXISTS lak_r17_eops USING btree CASCADE",
    "DROP FUNCTION IF EXISTS lak_r17_cast_in(INTEGER)",
    "DROP FUNCTION IF EXISTS lak_r17_cast_out(lak_r17_e)",
    "DROP FUNCTION IF EXISTS lak_r17_ecmp(lak_r17_e, lak_r17_e)",
    "DROP TYPE IF EXISTS lak_r17_pair CASCADE",
    "DROP TYPE IF EXISTS lak_r17_frng CASCADE",
    "DROP FUNCTION IF EXISTS lak_r17_diff(FLOAT8, FLOAT8)",
    "DROP TYPE IF EXISTS lak_r17_e CASCADE",
    "DROP DOMAIN IF EXISTS lak_r17_dom CASCADE",
    "DROP FUNCTION IF EXISTS lak_r17_hash(INTEGER, BIGINT)",
    "DROP FUNCTION IF EXISTS lak_r17_cmp(INTEGER, INTEGER)",
    "DROP FUNCTION IF EXISTS lak_r17_imm(INTEGER)",
    "DROP FUNCTION IF EXISTS lak_r17_w(INTEGER, INTEGER)",
    "DELETE FROM lak_hid_account",
)


# --- 1. the partition key: its expression and its operator class run on every row routed or checked ------------

_PARTITION: dict[str, tuple[list[str], str]] = {
    # (setup, the write)
    "control_check_on_partitioned_parent": (
        [
            "CREATE TABLE lak_r17_par (id INTEGER, CHECK (lak_r17_imm(id) IS NOT NULL)) PARTITION BY RANGE (id)",
            "CREATE TABLE lak_r17_p1 PARTITION OF lak_r17_par FOR VALUES FROM (0) TO (100)",
        ],
        "INSERT INTO lak_r17_par (id) VALUES (3)",
    ),
    "key_expression_parent_written": (
        [
            "CREATE TABLE lak_r17_par (id INTEGER) PARTITION BY RANGE (lak_r17_imm(id))",
            "CREATE TABLE lak_r17_p1 PARTITION OF lak_r17_par FOR VALUES FROM (0) TO (100)",
        ],
        "INSERT INTO lak_r17_par (id) VALUES (3)",
    ),
    "key_expression_partition_written": (
        [
            "CREATE TABLE lak_r17_par (id INTEGER) PARTITION BY RANGE (lak_r17_imm(id))",
            "CREATE TABLE lak_r17_p1 PARTITION OF lak_r17_par FOR VALUES FROM (0) TO (100)",
        ],
        "INSERT INTO lak_r17_p1 (id) VALUES (3)",
    ),
    "key_operator_class_support_function": (
        [
            _CMP,
            _BTREE_OPS,
            "CREATE TABLE lak_r17_par (id INTEGER) PARTITION BY RANGE (id lak_r17_ops)",
            "CREATE TABLE lak_r17_p1 PARTITION OF lak_r17_par FOR VALUES FROM (0) TO (100)",
        ],
        "INSERT INTO lak_r17_par (id) VALUES (3)",
    ),
    "hash_key_extended_hash_function": (
        [
            (
                "CREATE OR REPLACE FUNCTION lak_r17_hash(a INTEGER, s BIGINT) RETURNS BIGINT AS $$ BEGIN "
                "PERFORM lak_r17_w(0, 0); RETURN hashint4extended(a, s); END $$ LANGUAGE plpgsql IMMUTABLE"
            ),
            (
                "CREATE OPERATOR CLASS lak_r17_ops FOR TYPE INTEGER USING hash AS OPERATOR 1 =, "
                "FUNCTION 2 lak_r17_hash(INTEGER, BIGINT)"
            ),
            "CREATE TABLE lak_r17_par (id INTEGER) PARTITION BY HASH (id lak_r17_ops)",
            "CREATE TABLE lak_r17_p1 PARTITION OF lak_r17_par FOR VALUES WITH (MODULUS 1, REMAINDER 0)",
        ],
        "INSERT INTO lak_r17_par (id) VALUES (3)",
    ),
}


@pytest.mark.parametrize("via", list(_PARTITION))
def test_write_running_function_through_partition_key(hidden: Env, via: str) -> None:
    """lak_r17_imm / lak_r17_cmp / lak_r17_hash are IMMUTABLE (a partition key accepts them) and call the VOLATILE
    writer lak_r17_w, which inserts into lak_hid_audit. A write to a partitioned table computes each row's partition
    key to route it: the key expression (`PARTITION BY RANGE (lak_r17_imm(id))`), and the key's operator class's
    support function (btree FUNCTION 1 compares the key with the bounds; hash FUNCTION 2 hashes it). A write naming the
    partition itself checks its partition constraint, built from the *parent's* key expression.

    PostgreSQL records both in pg_depend with the partitioned table itself as the dependent (classid pg_class, objid
    the table's oid: heap.c StorePartitionKey), not an attrdef, constraint, trigger, index or policy. `_RELATION_RUNS`
    (pgwriteruns.py, the `src` CTE) reads only pg_attrdef, pg_constraint, pg_trigger, pg_index and pg_policy rows,
    so `pg_write_runs` reports nothing for lak_r17_par (nor lak_r17_p1) and the INSERT is not a write of
    lak_hid_audit: its cached count is served stale.

    pgwriteruns now reads the dependencies of the table and of its ancestors (`pg_partition_ancestors`, which holds the
    table itself when partitioned), the opclass rows going through the amproc/amop branches."""
    engine = _only(hidden, "postgresql")
    setup, write = _PARTITION[via]
    _exec(engine, _WRITER, _IMMUTABLE, *setup, "DELETE FROM lak_hid_audit")
    try:
        _reflect(engine)
        _audit_after(hidden, _raw(write))
    finally:
        _cleanup(engine, *_DROP_COMMON)


# --- 2. what a column's type runs beyond a domain's DEFAULT and CHECK ---------------------------------------------

_ENUM = "CREATE TYPE lak_r17_e AS ENUM ('a', 'b')"
_ENUM_CMP = (
    "CREATE FUNCTION lak_r17_ecmp(a lak_r17_e, b lak_r17_e) RETURNS INTEGER AS $$ BEGIN "
    "PERFORM lak_r17_w(0, 0); RETURN enum_cmp(a, b); END $$ LANGUAGE plpgsql IMMUTABLE"
)
# the enum's default btree operator class: what an array's or a composite's comparison uses for its elements/fields
_ENUM_OPS = (
    "CREATE OPERATOR CLASS lak_r17_eops DEFAULT FOR TYPE lak_r17_e USING btree AS "
    "OPERATOR 1 < (anyenum, anyenum), OPERATOR 2 <= (anyenum, anyenum), OPERATOR 3 = (anyenum, anyenum), "
    "OPERATOR 4 >= (anyenum, anyenum), OPERATOR 5 > (anyenum, anyenum), "
    "FUNCTION 1 lak_r17_ecmp(lak_r17_e, lak_r17_e)"
)
_TYPES: dict[str, tuple[list[str], str]] = {
    # (setup, the write)
    "control_domain_check": (
        [
            "CREATE DOMAIN lak_r17_dom AS INTEGER CHECK (lak_r17_w(VALUE, 0) IS NOT NULL)",
            "CREATE TABLE lak_r17_t (id INTEGER, code lak_r17_dom)",
        ],
        "INSERT INTO lak_r17_t (id, code) VALUES (1, 5)",
    ),
    "assignment_cast_to_column_type": (
        [
            _ENUM,
            (
                "CREATE FUNCTION lak_r17_cast_in(a INTEGER) RETURNS lak_r17_e AS $$ BEGIN PERFORM lak_r17_w(a, 0); "
                "RETURN 'a'; END $$ LANGUAGE plpgsql"
            ),
            "CREATE CAST (INTEGER AS lak_r17_e) WITH FUNCTION lak_r17_cast_in(INTEGER) AS ASSIGNMENT",
            "CREATE TABLE lak_r17_t (id INTEGER, code lak_r17_e)",
        ],
        "INSERT INTO lak_r17_t (id, code) VALUES (1, 5)",
    ),
    "foreign_key_through_implicit_cast": (
        [
            _ENUM,
            (
                "CREATE FUNCTION lak_r17_cast_out(x lak_r17_e) RETURNS INTEGER AS $$ BEGIN PERFORM lak_r17_w(0, 0); "
                "RETURN 1; END $$ LANGUAGE plpgsql"
            ),
            "CREATE CAST (lak_r17_e AS INTEGER) WITH FUNCTION lak_r17_cast_out(lak_r17_e) AS IMPLICIT",
            "INSERT INTO lak_hid_account (id, name, active) VALUES (1, 'ann', true)",
            # no INTEGER column: the cast's target type is the referenced column's, not one of the written table's
            "CREATE TABLE lak_r17_t (id BIGINT, code lak_r17_e REFERENCES lak_hid_account (id))",
        ],
        "INSERT INTO lak_r17_t (id, code) VALUES (1, 'a')",
    ),
    "range_subtype_operator_class": (
        [
            _CMP,
            _BTREE_OPS,
            "CREATE TYPE lak_r17_rng AS RANGE (SUBTYPE = INTEGER, SUBTYPE_OPCLASS = lak_r17_ops)",
            "CREATE TABLE lak_r17_t (id INTEGER, code lak_r17_rng)",
        ],
        "INSERT INTO lak_r17_t (id, code) VALUES (1, '[2,5]')",
    ),
    "array_element_default_operator_class_in_unique_index": (
        [
            _ENUM,
            _ENUM_CMP,
            _ENUM_OPS,
            "CREATE TABLE lak_r17_t (id INTEGER, code lak_r17_e[] UNIQUE)",
            "INSERT INTO lak_r17_t (id, code) VALUES (1, '{a}')",  # the new entry is compared with this one
        ],
        "INSERT INTO lak_r17_t (id, code) VALUES (2, '{b}')",
    ),
    "composite_field_default_operator_class_in_unique_index": (
        [
            _ENUM,
            _ENUM_CMP,
            _ENUM_OPS,
            "CREATE TYPE lak_r17_pair AS (n INTEGER, e lak_r17_e)",
            "CREATE TABLE lak_r17_t (id INTEGER, code lak_r17_pair UNIQUE)",
            "INSERT INTO lak_r17_t (id, code) VALUES (1, ROW(1, 'a'))",  # the new entry is compared with this one
        ],
        "INSERT INTO lak_r17_t (id, code) VALUES (2, ROW(1, 'b'))",
    ),
    "range_subtype_difference_in_gist_index": (
        [
            (
                "CREATE FUNCTION lak_r17_diff(a FLOAT8, b FLOAT8) RETURNS FLOAT8 AS $$ BEGIN PERFORM lak_r17_w(0, 0); "
                "RETURN a - b; END $$ LANGUAGE plpgsql IMMUTABLE"
            ),
            "CREATE TYPE lak_r17_frng AS RANGE (SUBTYPE = FLOAT8, SUBTYPE_DIFF = lak_r17_diff)",
            "CREATE TABLE lak_r17_t (id INTEGER, code lak_r17_frng)",
            "CREATE INDEX lak_r17_ix ON lak_r17_t USING gist (code)",
            "INSERT INTO lak_r17_t (id, code) SELECT g, numrange(g, g + 1)::text::lak_r17_frng FROM generate_series(1, 1000) g",
            "DELETE FROM lak_hid_audit",
        ],
        # beyond every range indexed: each of the root's entries must grow to take it (a nonzero penalty, computed
        # with SUBTYPE_DIFF); one it fit in would cost no difference, and GiST breaks ties between entries at random
        "INSERT INTO lak_r17_t (id, code) VALUES (0, '[5000.5,5001.5]')",
    ),
    "multirange_of_range_of_domain": (
        [
            "CREATE DOMAIN lak_r17_dom AS INTEGER CHECK (lak_r17_w(VALUE, 0) IS NOT NULL)",
            "CREATE TYPE lak_r17_rng AS RANGE (SUBTYPE = lak_r17_dom)",
            "CREATE TABLE lak_r17_t (id INTEGER, code lak_r17_rng_multirange)",
        ],
        "INSERT INTO lak_r17_t (id, code) VALUES (1, '{[2,5]}')",
    ),
}


@pytest.mark.parametrize("via", list(_TYPES))
def test_write_running_function_through_column_type(hidden: Env, via: str) -> None:
    """The INSERT into lak_r17_t names no function; the column `code`'s type runs the writer lak_r17_w:

    - assignment_cast_to_column_type: `code` is an enum; the INSERT gives it an INTEGER, which PostgreSQL converts
      with the user's `CREATE CAST (INTEGER AS lak_r17_e) WITH FUNCTION lak_r17_cast_in AS ASSIGNMENT` (pg_cast). No
      attrdef, constraint or domain depends on the cast: the statement's own coercion runs it.
    - foreign_key_through_implicit_cast: `code` (enum) references lak_hid_account(id) (INTEGER) through the implicit
      cast lak_r17_e -> INTEGER (`can_coerce_type` lets the FK be created); the RI check's query casts the new value
      with lak_r17_cast_out. The FK constraint depends in pg_depend on its equality operators (int4eq, pg_catalog),
      never on the cast.
    - range_subtype_operator_class: building a range value compares its bounds with the subtype operator class's
      FUNCTION 1 (lak_r17_cmp). The range type depends on the opclass (classid pg_type, refclassid pg_opclass);
      `_DOMAIN_RUNS` reads domains' and domain constraints' dependencies only.
    - array_element_default_operator_class_in_unique_index: the UNIQUE index on `lak_r17_e[]` uses array_ops
      (pg_catalog), whose btarraycmp compares elements with the element type's *default* btree opclass, the user's
      lak_r17_eops (lak_r17_ecmp). The index depends on array_ops only; its amproc (btarraycmp) is pg_catalog's.
    - multirange_of_range_of_domain: `_HOLDERS` followed pg_range's subtype -> range, never range -> multirange
      (`pg_range.rngmultitypid`, now followed); the multirange's ranges check the domain.

    - composite_field_default_operator_class_in_unique_index: as the array's, record_ops compares the fields with their
      types' default btree opclasses.
    - range_subtype_difference_in_gist_index: a GiST index on the range computes penalties with its SUBTYPE_DIFF.

    `pg_write_runs` reported nothing for lak_r17_t but in the multirange case and the control (a domain CHECK), so the
    INSERT was not a write of lak_hid_audit. Now `_TYPE_RUNS` counts, for each type, the functions of `pg_cast` rows
    targeting it (and its implicit casts to others), of a range's `rngsubopc` (amproc/amop), `rngsubdiff` and
    `rngcanonical`, and of its default operator classes, held by arrays, ranges, domains and composites."""
    engine = _only(hidden, "postgresql")
    setup, write = _TYPES[via]
    _exec(engine, _WRITER, *setup, "DELETE FROM lak_hid_audit")
    try:
        _reflect(engine)
        _audit_after(hidden, _raw(write))
    finally:
        _cleanup(engine, *_DROP_COMMON)


# --- 3. a pg_catalog function that runs SQL given as text --------------------------------------------------------

_CATALOG_SQL: dict[str, str] = {
    "control_check_calls_writer": "CHECK (lak_r17_w(id, 0) IS NOT NULL)",
    "check_through_query_to_xml": (
        "CHECK (query_to_xml('SELECT public.lak_r17_w(' || id || ', 0)', true, false, '') IS NOT NULL)"
    ),
    "default_through_query_to_xml": "code XML DEFAULT query_to_xml('SELECT public.lak_r17_w(1, 0)', true, false, '')",
    "domain_check_through_query_to_xml": "code lak_r17_dom",
}


@pytest.mark.parametrize("via", list(_CATALOG_SQL))
def test_write_running_function_through_pg_catalog_sql_runner(hidden: Env, via: str) -> None:
    """pgwriteruns' docstring: "Functions of pg_catalog are left out (they write no table)". Some run SQL given as
    text: `query_to_xml`, `query_to_xmlschema`, `query_to_xml_and_xmlschema`, `ts_stat`, `cursor_to_xml` (a cursor
    opened elsewhere). A CHECK calling `query_to_xml('SELECT public.lak_r17_w(...)', ...)` runs the writer on every
    inserted row; pg_depend records no dependency on query_to_xml (pg_catalog's functions are pinned), and
    `_RELATION_RUNS`' final `WHERE pn.nspname <> 'pg_catalog'` dropped it anyway: the INSERT was not a write of
    lak_hid_audit. Likewise through a column DEFAULT and a domain's CHECK.

    Fixed: such calls are found by oid in the expressions' stored trees (`SQL_RUNNERS`) and learnt as opaque and
    writing anything (`Learnt(..., opaque=True, writes_unknown=True)`, as a body running dynamic SQL is)."""
    engine = _only(hidden, "postgresql")
    domain = (
        "CREATE DOMAIN lak_r17_dom AS INTEGER DEFAULT 1 "
        "CHECK (query_to_xml('SELECT public.lak_r17_w(' || VALUE || ', 0)', true, false, '') IS NOT NULL)"
    )
    table = f"CREATE TABLE lak_r17_t (id INTEGER, {_CATALOG_SQL[via]})"
    _exec(engine, _WRITER, domain, table, "DELETE FROM lak_hid_audit")
    try:
        with engine.connect() as conn:
            # pg_catalog is never another schema to reflect: its functions are C, many VOLATILE, none analysable
            assert "pg_catalog" not in pg_write_runs(conn, None)[1]
        _reflect(engine)
        _audit_after(hidden, _raw("INSERT INTO lak_r17_t (id) VALUES (3)"))
    finally:
        _cleanup(engine, *_DROP_COMMON)


# --- tried, handled ---------------------------------------------------------------------------------------------

_HANDLED: dict[str, tuple[list[str], str]] = {
    "view_column_default_written_through_view": (
        [
            "CREATE TABLE lak_r17_t (id INTEGER, code INTEGER)",
            "CREATE VIEW lak_r17_v AS SELECT id, code FROM lak_r17_t",
            "ALTER VIEW lak_r17_v ALTER COLUMN code SET DEFAULT lak_r17_w(5, 0)",
        ],
        "INSERT INTO lak_r17_v (id) VALUES (3)",
    ),
    "trigger_on_partition_parent_written": (
        [
            "CREATE TABLE lak_r17_par (id INTEGER) PARTITION BY RANGE (id)",
            "CREATE TABLE lak_r17_p1 PARTITION OF lak_r17_par FOR VALUES FROM (0) TO (100)",
            (
                "CREATE OR REPLACE FUNCTION lak_r17_tf() RETURNS trigger AS $$ BEGIN PERFORM lak_r17_w(NEW.id, 0); "
                "RETURN NULL; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER lak_r17_tr AFTER INSERT ON lak_r17_p1 FOR EACH ROW EXECUTE FUNCTION lak_r17_tf()",
        ],
        "INSERT INTO lak_r17_par (id) VALUES (3)",
    ),
    "index_on_partition_parent_written": (
        [
            "CREATE TABLE lak_r17_par (id INTEGER) PARTITION BY RANGE (id)",
            "CREATE TABLE lak_r17_p1 PARTITION OF lak_r17_par FOR VALUES FROM (0) TO (100)",
            "CREATE INDEX lak_r17_ix ON lak_r17_p1 (lak_r17_imm(id))",
        ],
        "INSERT INTO lak_r17_par (id) VALUES (3)",
    ),
    "on_conflict_arbiter_index_operator_class": (
        [
            _CMP,
            _BTREE_OPS,
            "CREATE TABLE lak_r17_t (id INTEGER, code INTEGER)",
            "CREATE UNIQUE INDEX lak_r17_ix ON lak_r17_t (id lak_r17_ops)",
            "INSERT INTO lak_r17_t (id) VALUES (1)",
        ],
        "INSERT INTO lak_r17_t (id) VALUES (2) ON CONFLICT (id) DO NOTHING",
    ),
    "foreign_key_to_user_operator_class_index": (
        [
            (
                "CREATE OR REPLACE FUNCTION lak_r17_eq(a INTEGER, b INTEGER) RETURNS BOOLEAN AS $$ BEGIN "
                "PERFORM lak_r17_w(0, 0); RETURN a = b; END $$ LANGUAGE plpgsql IMMUTABLE"
            ),
            "CREATE OPERATOR #=# (LEFTARG = INTEGER, RIGHTARG = INTEGER, FUNCTION = lak_r17_eq, COMMUTATOR = #=#)",
            (
                "CREATE OPERATOR CLASS lak_r17_ops FOR TYPE INTEGER USING btree AS OPERATOR 1 <, OPERATOR 2 <=, "
                "OPERATOR 3 #=#, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 btint4cmp(INTEGER, INTEGER)"
            ),
            "CREATE TABLE lak_r17_par (id INTEGER)",
            "CREATE UNIQUE INDEX lak_r17_ix ON lak_r17_par (id lak_r17_ops)",
            "INSERT INTO lak_r17_par (id) VALUES (1), (2)",
            "CREATE TABLE lak_r17_t (id INTEGER, p INTEGER REFERENCES lak_r17_par (id))",
            "INSERT INTO lak_r17_t (id, p) VALUES (1, 2)",
        ],
        "DELETE FROM lak_r17_par WHERE id = 1",
    ),
}


@pytest.mark.parametrize("via", list(_HANDLED))
def test_write_running_function_handled(hidden: Env, via: str) -> None:
    """Shapes that work: a view's own column DEFAULT (pg_attrdef of the view, reported for the view's name, which
    the write names); a trigger or an expression index on a partition, the parent written (`_children` makes the
    parent's write reach the partition); an ON CONFLICT arbiter index with a user operator class (an index of the
    table); a DELETE from a table whose unique index, referenced by a foreign key, has a user operator class whose
    equality operator #=# runs the writer (the RI query on the referencing table uses that operator: it is of the
    index's family, read with the index, and the FK constraint depends on it)."""
    engine = _only(hidden, "postgresql")
    setup, write = _HANDLED[via]
    _exec(engine, _WRITER, _IMMUTABLE, *setup, "DELETE FROM lak_hid_audit")
    try:
        _reflect(engine)
        _audit_after(hidden, _raw(write))
    finally:
        _cleanup(
            engine,
            "DROP VIEW IF EXISTS lak_r17_v",
            "DROP TABLE IF EXISTS lak_r17_t CASCADE",
            "DROP TABLE IF EXISTS lak_r17_par CASCADE",
            "DROP FUNCTION IF EXISTS lak_r17_tf()",
            "DROP OPERATOR FAMILY IF EXISTS lak_r17_ops USING btree CASCADE",
            "DROP OPERATOR IF EXISTS #=# (INTEGER, INTEGER)",
            "DROP FUNCTION IF EXISTS lak_r17_eq(INTEGER, INTEGER)",
            *_DROP_COMMON,
        )


# ================================================================================================================
# Part 2: a tenant-bound update_many (709fccc)
# ================================================================================================================


class R17Base(CommonTableAttributes, DeclarativeBase):
    """Tables only these scenarios create (and drop)."""

    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class R17Doc(R17Base):
    """A tenant-owned model whose repository looks rows up by ``slug`` (AA's ``id_attribute``), keyed by ``id``."""

    __tablename__ = "lak_r17_doc"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[int] = tenant_column()


class R17Pair(R17Base):
    """A tenant-owned model with a composite primary key (id, part); the tenant is not part of it."""

    __tablename__ = "lak_r17_pair"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    part: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[int] = tenant_column()


class DocBySlugRepository(CachedAsyncRepository[R17Doc]):
    model_type = R17Doc
    id_attribute = "slug"


class PairRepository(CachedAsyncRepository[R17Pair]):
    model_type = R17Pair


class _DocIn(msgspec.Struct):
    id: uuid.UUID
    slug: str
    name: str


async def _tables(env: Env, *, create: bool) -> None:
    async with env.engine_object.begin() as conn:
        await conn.run_sync(R17Base.metadata.create_all if create else R17Base.metadata.drop_all)


async def _stored(env: Env, model: type[Any]) -> list[tuple[Any, ...]]:
    """Every row's (key..., name, tenant), straight from the database."""
    async with env.sessionmaker() as session:
        rows = await session.scalars(select(model))
        if model is R17Doc:
            return sorted((row.slug, row.name, row.tenant) for row in rows)
        return sorted((row.id, row.part, row.name, row.tenant) for row in rows)


async def _update_many(env: Env, repository: type[Any], payload: list[Any]) -> str:
    """``update_many(payload)`` on a repository bound to tenant 1: "ok", or "refused" (AA's NotFoundError)."""
    cache = env.make_cache()
    async with env.bound(cache)() as session:
        try:
            await repository(session=session, cache=cache, tenant=1).update_many(payload, auto_commit=True)
        except NotFoundError:
            await session.rollback()
            return "refused"
    return "ok"


_BY_SLUG = ["control_own_row_dict", "other_tenants_key_dict", "other_tenants_key_schema", "other_tenants_key_instance"]


@pytest.mark.parametrize("case", _BY_SLUG)
async def test_update_many_checks_id_attribute_but_updates_by_primary_key(async_env: Env, case: str) -> None:
    """`DocBySlugRepository` sets AA's `id_attribute = "slug"` (get/update/delete by a candidate key: AA's documented
    use of it). Tenant 1 owns slug "own"; tenant 2 owns "theirs". Bound to tenant 1, update_many is given
    `{"id": <theirs' id>, "slug": "own", "name": "hijacked"}`.

    `update_many` (writes/_async.py) checks `_require_tenant_rows([self._payload_id(item) ...])`, and `_payload_id`
    returns `item.get(self.id_attribute)` (a dict; `get_id_attribute_value` for an instance): slug "own", a row of
    tenant 1, so the check passes. AA's `update_many` then runs SQLAlchemy's ORM bulk UPDATE by *primary key*
    (`persistence._collect_update_commands(bulk=True)` takes the WHERE from `mapper._pk_attr_keys_by_table`, never
    from `id_attribute`): `UPDATE lak_r17_doc SET slug='own', name='hijacked', tenant=1 WHERE id=<theirs' id>`.
    Tenant 2's row is overwritten and moved into tenant 1. The same with a schema (msgspec) and an instance (the
    instance path predates 709fccc; the dict and schema paths are new).

    Fix: check the mapper's primary key values (all of `self._pk_attr_names`, from the dict, or
    `get_primary_key_value` of an instance), which is what the bulk UPDATE matches by; or add the tenant condition to
    the bulk UPDATE (`update(Model).where(tenant == bound)`, which SQLAlchemy 2.0's bulk UPDATE by primary key accepts),
    which also closes the check-then-write race."""
    env = async_env
    await _tables(env, create=True)
    try:
        async with env.sessionmaker() as session:
            own = R17Doc(slug="own", name="mine", tenant=1)
            theirs = R17Doc(slug="theirs", name="secret", tenant=2)
            session.add_all([own, theirs])
            await session.commit()
        target = own.id if case.startswith("control") else theirs.id
        fields = {"id": target, "slug": "own", "name": "hijacked" if target == theirs.id else "renamed"}
        payload: Any = {
            "control_own_row_dict": fields,
            "other_tenants_key_dict": fields,
            "other_tenants_key_schema": _DocIn(**fields),
            "other_tenants_key_instance": R17Doc(**fields),
        }[case]
        outcome = await _update_many(env, DocBySlugRepository, [payload])
        stored = await _stored(env, R17Doc)
        if case.startswith("control"):
            assert (outcome, stored) == ("ok", [("own", "renamed", 1), ("theirs", "secret", 2)])
        else:
            assert ("theirs", "secret", 2) in stored, f"tenant 2's row was written by tenant 1 ({outcome}): {stored}"
    finally:
        await _tables(env, create=False)


_PAIRS = {
    # (payload, the outcome AA's update_many has, the rows after it)
    "control_own_row": ({"id": 1, "part": "a", "name": "renamed"}, "ok"),
    "other_tenants_row_sharing_id": ({"id": 1, "part": "b", "name": "hijacked"}, "refused"),
    "own_row_whose_id_another_own_row_shares": ({"id": 2, "part": "a", "name": "renamed"}, "ok"),
}


@pytest.mark.parametrize("case", list(_PAIRS))
async def test_update_many_composite_primary_key(async_env: Env, case: str) -> None:
    """R17Pair's primary key is (id, part); AA's `id_attribute` stays "id" (one column of it). Tenant 1 owns (1, a),
    (2, a) and (2, c); tenant 2 owns (1, b).

    - other_tenants_row_sharing_id: `{"id": 1, "part": "b", ...}` is tenant 2's row. `_payload_id` (writes/_async.py)
      returns `item.get(self.id_attribute)` = 1 and `_require_tenant_rows` counts tenant 1's rows with `id IN (1)`:
      1 row for 1 id, the check passes; the bulk UPDATE matches `WHERE id = 1 AND part = 'b'`: tenant 2's row is
      overwritten and moved into tenant 1.
    - own_row_whose_id_another_own_row_shares (not hostile): `{"id": 2, "part": "a", ...}` is tenant 1's; the count of
      `id IN (2)` is 2 for 1 id (`found != len(wanted)`), so the kit raises NotFoundError where AA's update_many
      updates the row.

    Fix: check the full primary key (`self._pk_attr_names`; AA's `_build_pk_filter` / a tuple IN) rather than
    `id_attribute`, and compare the count with the number of distinct keys."""
    env = async_env
    payload, expected = _PAIRS[case]
    await _tables(env, create=True)
    try:
        async with env.sessionmaker() as session:
            session.add_all(
                [
                    R17Pair(id=1, part="a", name="mine", tenant=1),
                    R17Pair(id=2, part="a", name="mine", tenant=1),
                    R17Pair(id=2, part="c", name="mine", tenant=1),
                    R17Pair(id=1, part="b", name="secret", tenant=2),
                ]
            )
            await session.commit()
        outcome = await _update_many(env, PairRepository, [payload])
        stored = await _stored(env, R17Pair)
        assert (1, "b", "secret", 2) in stored, f"tenant 2's row was written by tenant 1 ({outcome}): {stored}"
        assert outcome == expected, f"AA's update_many: {expected}; the kit's: {outcome}"
    finally:
        await _tables(env, create=False)
