"""Hidden writes, review 15: what a PostgreSQL write runs beyond its column DEFAULTs and CHECK constraints.

3a0a131 read, from ``pg_depend``, the functions a write to a table runs through its column DEFAULTs, its CHECK
constraints and the CHECK constraints of its columns' domains (through domains over domains and arrays of domains).
A write also runs functions recorded elsewhere, which it missed (each scenario failed on it, and on 05e7f30):

1. through a column's *type*: a domain's own DEFAULT (``pg_type.typdefaultbin``), the domain CHECK of a composite
   type's field (or a table's row type's), of a range type's subtype;
2. through a trigger's ``WHEN`` condition;
3. through the table's indexes: an expression index, a partial index's predicate, an exclusion constraint's operator;
4. through a row-level security policy (``pg_policy``), for a role that does not bypass it.

:mod:`~litestar_alchemy_kit.orm.pgwriteruns` reads them all. Each scenario has a control (the setup, the writer and
the cache path work when the function is reached through what 3a0a131 read).
``test_write_running_function_read_from_the_catalog`` holds shapes that worked already, kept as guards.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.repository.conftest import Env
from tests.integration.repository.test_hidden_dependencies import Account
from tests.integration.repository.test_hidden_writes import _cleanup, _exec, _only, _reflect
from tests.integration.repository.test_hidden_writes_more import _audit_after, _raw

pytestmark = pytest.mark.parametrize("cache_store", ["memory_store"], indirect=True)

# the writer: one audit row per distinct argument (ON CONFLICT: a check may run it twice on one value)
_WRITER = (
    "CREATE OR REPLACE FUNCTION {name}(a INTEGER, b INTEGER) RETURNS INTEGER AS $$ BEGIN "
    "INSERT INTO public.lak_hid_audit (id) VALUES ('w' || a) ON CONFLICT DO NOTHING; RETURN a + b; END $$ "
    "LANGUAGE plpgsql"
)
# an IMMUTABLE wrapper (what an index or a generated column accepts) calling the VOLATILE writer: PostgreSQL runs it
# (only the wrapper's own statements are read-only), and reflection follows the call
_IMMUTABLE = (
    "CREATE OR REPLACE FUNCTION lak_r15_imm(a INTEGER) RETURNS INTEGER AS $$ BEGIN PERFORM lak_r15_w(a, 0); "
    "RETURN a; END $$ LANGUAGE plpgsql IMMUTABLE"
)
_INSERT = "INSERT INTO lak_hid_account (id, name, active, code) VALUES (3, 'ann', true, {value})"
_INSERT_PLAIN = "INSERT INTO lak_hid_account (id, name, active) VALUES (3, 'ann', true)"
_DROP_COMMON = (
    "ALTER TABLE lak_hid_account DROP CONSTRAINT IF EXISTS lak_r15_ck",
    "ALTER TABLE lak_hid_account DROP COLUMN IF EXISTS code",
    "DROP TYPE IF EXISTS lak_r15_rng",
    "DROP TYPE IF EXISTS lak_r15_comp",
    "DROP TYPE IF EXISTS lak_r15_comp0",
    "DROP TABLE IF EXISTS lak_r15_rowt",
    "DROP DOMAIN IF EXISTS lak_r15_dd",
    "DROP DOMAIN IF EXISTS lak_r15_dom",
    "DROP FUNCTION IF EXISTS lak_r15_imm(INTEGER)",
    "DROP FUNCTION IF EXISTS lak_r15_w(INTEGER, INTEGER)",
    "DELETE FROM lak_hid_account",
)


# --- 1. a function a column's type runs: a domain's DEFAULT, a composite's field domain, a range's subtype domain --

_DOMAIN = "CREATE DOMAIN lak_r15_dom AS INTEGER CHECK (lak_r15_w(VALUE, 0) IS NOT NULL)"
_TYPES: dict[str, tuple[list[str], str]] = {
    # (setup, the value the INSERT gives the column `code`)
    "control_column_default": (
        ["ALTER TABLE lak_hid_account ADD COLUMN code INTEGER DEFAULT lak_r15_w(5, 0)"],
        "DEFAULT",
    ),
    "control_domain_check": ([_DOMAIN, "ALTER TABLE lak_hid_account ADD COLUMN code lak_r15_dom"], "5"),
    "domain_default": (
        [
            "CREATE DOMAIN lak_r15_dd AS INTEGER DEFAULT lak_r15_w(5, 0)",
            "ALTER TABLE lak_hid_account ADD COLUMN code lak_r15_dd",
        ],
        "DEFAULT",
    ),
    "composite_field_domain": (
        [
            _DOMAIN,
            "CREATE TYPE lak_r15_comp AS (x lak_r15_dom)",
            "ALTER TABLE lak_hid_account ADD COLUMN code lak_r15_comp",
        ],
        "ROW(5)",
    ),
    "nested_composite_field_domain": (
        [
            _DOMAIN,
            "CREATE TYPE lak_r15_comp0 AS (x lak_r15_dom)",
            "CREATE TYPE lak_r15_comp AS (y lak_r15_comp0)",
            "ALTER TABLE lak_hid_account ADD COLUMN code lak_r15_comp",
        ],
        "ROW(ROW(5))",
    ),
    "table_row_type_field_domain": (
        [
            _DOMAIN,
            "CREATE TABLE lak_r15_rowt (x lak_r15_dom)",
            "ALTER TABLE lak_hid_account ADD COLUMN code lak_r15_rowt",
        ],
        "ROW(5)",
    ),
    "range_subtype_domain": (
        [
            _DOMAIN,
            "CREATE TYPE lak_r15_rng AS RANGE (SUBTYPE = lak_r15_dom)",
            "ALTER TABLE lak_hid_account ADD COLUMN code lak_r15_rng",
        ],
        "'[5,5]'",
    ),
}


@pytest.mark.parametrize("via", list(_TYPES))
def test_write_running_function_through_column_type(hidden: Env, via: str) -> None:
    """lak_r15_w(a, b) inserts into lak_hid_audit. The INSERT into lak_hid_account names only the table; it runs
    lak_r15_w through the column `code`'s type:

    - domain_default: `code` has no DEFAULT of its own, its domain has one (`CREATE DOMAIN ... DEFAULT lak_r15_w(5, 0)`),
      which PostgreSQL keeps in pg_type.typdefaultbin (the domain type depends on the function in pg_depend with
      classid pg_type) and runs for `DEFAULT`. `_PG_DEFAULTS_AND_CHECKS` (functionreflect.py, the `runs` CTE) reads
      pg_attrdef and CHECK constraints only; the text scan it replaced (pg_attrdef's text) missed it as well.
    - composite_field_domain: `code` is a composite type whose field is the CHECKed domain; building the row value
      checks the field. The `types` CTE follows `typbasetype` (domains) and `typelem` (arrays), never a composite's
      `typrelid` attributes: the query reports the function for the composite type's own pg_class row (relkind 'c',
      named lak_r15_comp), which no statement writes, and not for lak_hid_account.
    - range_subtype_domain: `code` is a range over the CHECKed domain; each bound is checked (range_in ->
      domain_in). `types` does not follow pg_range.rngsubtype (nor a multirange's range).

    pgwriteruns reads each domain's dependencies (its DEFAULT's and its CHECKs') and follows the types holding it up
    to the columns: domains over it, arrays, ranges, composite types and relations' row types with a field of it."""
    engine = _only(hidden, "postgresql")
    setup, value = _TYPES[via]
    _exec(engine, _WRITER.format(name="lak_r15_w"), *setup, "DELETE FROM lak_hid_audit")
    try:
        _reflect(engine)
        _audit_after(hidden, _raw(_INSERT.format(value=value)))
    finally:
        _cleanup(engine, *_DROP_COMMON)


# --- 2. a trigger's WHEN condition -------------------------------------------------------------------------------

_WHEN: dict[str, list[str]] = {
    "control_trigger_function_calls_writer": [
        (
            "CREATE OR REPLACE FUNCTION lak_r15_tf() RETURNS trigger AS $$ BEGIN PERFORM lak_r15_w(NEW.id, 0); "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        ),
        "CREATE TRIGGER lak_r15_t AFTER INSERT ON lak_hid_account FOR EACH ROW EXECUTE FUNCTION lak_r15_tf()",
    ],
    "trigger_when_calls_writer": [
        "CREATE OR REPLACE FUNCTION lak_r15_tf() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ LANGUAGE plpgsql",
        (
            "CREATE TRIGGER lak_r15_t AFTER INSERT ON lak_hid_account FOR EACH ROW "
            "WHEN (lak_r15_w(NEW.id, 0) IS NOT NULL) EXECUTE FUNCTION lak_r15_tf()"
        ),
    ],
}


@pytest.mark.parametrize("via", list(_WHEN))
def test_write_running_function_through_trigger_when(hidden: Env, via: str) -> None:
    """A trigger on lak_hid_account whose function writes nothing, but whose `WHEN (lak_r15_w(NEW.id, 0) IS NOT NULL)`
    condition runs the writer on every inserted row. `_PG_TRIGGERS` (functionreflect.py) reads only the trigger's
    function (`pg_trigger.tgfoid`); the condition (`pg_trigger.tgqual`) is recorded in pg_depend (classid pg_trigger,
    refclassid pg_proc), which `_PG_DEFAULTS_AND_CHECKS` does not read. lak_r15_tf is learnt to write nothing, and the
    INSERT is not a write of lak_hid_audit.

    pgwriteruns reads the dependencies of the table's (non-internal) triggers, their conditions' calls among them."""
    engine = _only(hidden, "postgresql")
    _exec(engine, _WRITER.format(name="lak_r15_w"), *_WHEN[via], "DELETE FROM lak_hid_audit")
    try:
        _reflect(engine)
        _audit_after(hidden, lambda session: session.add(Account(id=3, name="ann")))
    finally:
        _cleanup(
            engine,
            "DROP TRIGGER IF EXISTS lak_r15_t ON lak_hid_account",
            "DROP FUNCTION IF EXISTS lak_r15_tf()",
            *_DROP_COMMON,
        )


# --- 3. the table's indexes: an index expression, a partial index's predicate, an exclusion constraint's operator --

_INDEX: dict[str, list[str]] = {
    "control_generated_column": [
        "ALTER TABLE lak_hid_account ADD COLUMN code INTEGER GENERATED ALWAYS AS (lak_r15_imm(id)) STORED"
    ],
    "expression_index": ["CREATE INDEX lak_r15_ix ON lak_hid_account (lak_r15_imm(id))"],
    "partial_index_predicate": ["CREATE INDEX lak_r15_ix ON lak_hid_account (id) WHERE lak_r15_imm(id) > 0"],
    "exclusion_constraint_operator": [
        (
            "CREATE OR REPLACE FUNCTION lak_r15_eq(a INTEGER, b INTEGER) RETURNS BOOLEAN AS $$ BEGIN "
            "RETURN lak_r15_imm(a) = b; END $$ LANGUAGE plpgsql IMMUTABLE"
        ),
        "CREATE OPERATOR #=# (LEFTARG = INTEGER, RIGHTARG = INTEGER, FUNCTION = lak_r15_eq, COMMUTATOR = #=#)",
        (
            "CREATE OPERATOR CLASS lak_r15_ops FOR TYPE INTEGER USING btree AS OPERATOR 1 <, OPERATOR 2 <=, "
            "OPERATOR 3 #=#, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 btint4cmp(INTEGER, INTEGER)"
        ),
        "ALTER TABLE lak_hid_account ADD CONSTRAINT lak_r15_ck EXCLUDE USING btree (id lak_r15_ops WITH #=#)",
    ],
    "hash_index_support_function": [
        (
            "CREATE OR REPLACE FUNCTION lak_r15_hash(a INTEGER) RETURNS INTEGER AS $$ BEGIN "
            "RETURN lak_r15_imm(a); END $$ LANGUAGE plpgsql IMMUTABLE"
        ),
        "CREATE OPERATOR CLASS lak_r15_ops FOR TYPE INTEGER USING hash AS OPERATOR 1 =, FUNCTION 1 lak_r15_hash(INTEGER)",
        "CREATE INDEX lak_r15_ix ON lak_hid_account USING hash (id lak_r15_ops)",
    ],
}


@pytest.mark.parametrize("via", list(_INDEX))
def test_write_running_function_through_index(hidden: Env, via: str) -> None:
    """lak_r15_imm(a) is IMMUTABLE (an index accepts it) and calls the VOLATILE writer, which PostgreSQL runs. An
    INSERT into lak_hid_account computes every index entry: an expression index's expression, a partial index's
    predicate, an exclusion constraint's check, which scans its index with the constraint's operator #=#
    (lak_r15_eq, calling lak_r15_imm) and meets at least the new row, and a hash index's hash support function. The generated column (control) is stored in
    pg_attrdef and read. An index is a pg_class row (relkind 'i') whose expressions depend on their functions in
    pg_depend (classid pg_class); an exclusion constraint's operators are those of the index's operator class
    (pg_depend: index -> pg_opclass, and pg_amop/pg_amproc list the operators and support functions). `runs` in
    `_PG_DEFAULTS_AND_CHECKS` (functionreflect.py) reads pg_attrdef and CHECK constraints (`k.contype = 'c'`)
    only: none of these is reflected, and the INSERT is not a write of lak_hid_audit.

    pgwriteruns reads each index's dependencies, the operators and support functions of its operator classes, and
    an exclusion constraint's operators (`conexclop`)."""
    engine = _only(hidden, "postgresql")
    _exec(engine, _WRITER.format(name="lak_r15_w"), _IMMUTABLE, *_INDEX[via], "DELETE FROM lak_hid_audit")
    try:
        _reflect(engine)
        _audit_after(hidden, lambda session: session.add(Account(id=3, name="ann")))
    finally:
        _cleanup(
            engine,
            "DROP INDEX IF EXISTS lak_r15_ix",
            "ALTER TABLE lak_hid_account DROP CONSTRAINT IF EXISTS lak_r15_ck",
            "DROP OPERATOR FAMILY IF EXISTS lak_r15_ops USING btree CASCADE",
            "DROP OPERATOR FAMILY IF EXISTS lak_r15_ops USING hash CASCADE",
            "DROP FUNCTION IF EXISTS lak_r15_hash(INTEGER)",
            "DROP OPERATOR IF EXISTS #=# (INTEGER, INTEGER)",
            "DROP FUNCTION IF EXISTS lak_r15_eq(INTEGER, INTEGER)",
            *_DROP_COMMON,
        )


# --- 4. a row-level security policy, for a role RLS applies to -----------------------------------------------------


def _role(engine: Any) -> str:
    """A role of the test's own database: roles are the server's, and test processes run side by side."""
    return f"lak_r15_{engine.url.database}"[:63]


_POLICY: dict[str, list[str]] = {
    "control_check_constraint": [
        "ALTER TABLE lak_hid_account ADD CONSTRAINT lak_r15_ck CHECK (lak_r15_w(id, 0) IS NOT NULL)"
    ],
    "policy_with_check": [
        "ALTER TABLE lak_hid_account ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY lak_r15_p ON lak_hid_account FOR INSERT WITH CHECK (lak_r15_w(id, 0) IS NOT NULL)",
    ],
}


def _as_role(role: str) -> Any:
    def write(session: Any) -> None:
        session.execute(text(f"SET LOCAL ROLE {role}"))  # until the commit: the ORM's INSERT runs as the role
        session.add(Account(id=3, name="ann"))

    return write


@pytest.mark.parametrize("via", list(_POLICY))
def test_write_running_function_through_policy(hidden: Env, via: str) -> None:
    """An application connecting as a role that is not the table's owner nor a superuser (the test's user is one, so
    the write sets a role) is subject to lak_hid_account's row-level security: the INSERT policy's
    `WITH CHECK (lak_r15_w(id, 0) IS NOT NULL)` runs the writer on every inserted row. The policy's expressions
    (pg_policy.polqual, polwithcheck) depend on the function in pg_depend (classid pg_policy); `runs` in
    `_PG_DEFAULTS_AND_CHECKS` (functionreflect.py) does not read pg_policy, so the INSERT is not a write of
    lak_hid_audit. The same holds for a USING clause on UPDATE / DELETE (and on the rows a SELECT policy filters).

    pgwriteruns reads the table's policies' dependencies (a superuser or BYPASSRLS role runs none: an extra
    invalidation at most)."""
    engine = _only(hidden, "postgresql")
    role = _role(engine)
    _cleanup(engine, f"DROP OWNED BY {role}", f"DROP ROLE IF EXISTS {role}")
    _exec(
        engine,
        _WRITER.format(name="lak_r15_w"),
        f"CREATE ROLE {role}",
        f"GRANT INSERT ON lak_hid_account, lak_hid_audit TO {role}",
        *_POLICY[via],
        "DELETE FROM lak_hid_audit",
    )
    try:
        _reflect(engine)
        _audit_after(hidden, _as_role(role))
    finally:
        _cleanup(
            engine,
            "DROP POLICY IF EXISTS lak_r15_p ON lak_hid_account",
            "ALTER TABLE lak_hid_account DISABLE ROW LEVEL SECURITY",
            f"DROP OWNED BY {role}",
            f"DROP ROLE IF EXISTS {role}",
            *_DROP_COMMON,
        )


# --- tried, handled: what the query reads, in shapes the review14 scenarios do not take ----------------------------

_HANDLED: dict[str, tuple[list[str], str, str | None]] = {
    # (setup, the write, the schema to reflect besides the default one)
    "not_valid_check": (
        ["ALTER TABLE lak_hid_account ADD CONSTRAINT lak_r15_ck CHECK (lak_r15_w(id, 0) IS NOT NULL) NOT VALID"],
        _INSERT_PLAIN,
        None,
    ),
    "inherited_check_child_written": (
        [
            "CREATE TABLE lak_r15_par (id INTEGER, CHECK (lak_r15_w(id, 0) IS NOT NULL))",
            "CREATE TABLE lak_r15_ch () INHERITS (lak_r15_par)",
        ],
        "INSERT INTO lak_r15_ch (id) VALUES (3)",
        None,
    ),
    "partitioned_check_parent_written": (
        [
            "CREATE TABLE lak_r15_par (id INTEGER, CHECK (lak_r15_w(id, 0) IS NOT NULL)) PARTITION BY RANGE (id)",
            "CREATE TABLE lak_r15_ch PARTITION OF lak_r15_par FOR VALUES FROM (0) TO (100)",
        ],
        "INSERT INTO lak_r15_par (id) VALUES (3)",
        None,
    ),
    "default_calls_a_caller_of_the_writer": (
        [
            "CREATE FUNCTION lak_r15_mid() RETURNS INTEGER AS $$ SELECT lak_r15_w(5, 0) $$ LANGUAGE sql",
            "ALTER TABLE lak_hid_account ADD COLUMN code INTEGER DEFAULT lak_r15_mid()",
        ],
        _INSERT.format(value="DEFAULT"),
        None,
    ),
    "operator_function_in_other_schema": (
        [
            "CREATE SCHEMA lak_r15_s",
            _WRITER.format(name="lak_r15_s.w2"),
            "CREATE OPERATOR public.#@# (LEFTARG = INTEGER, RIGHTARG = INTEGER, FUNCTION = lak_r15_s.w2)",
            "ALTER TABLE lak_hid_account ADD CONSTRAINT lak_r15_ck CHECK ((id #@# 0) IS NOT NULL)",
        ],
        _INSERT_PLAIN,
        None,
    ),
    "domain_of_other_schema": (
        [
            "CREATE SCHEMA lak_r15_s",
            _WRITER.format(name="lak_r15_s.w2"),
            "CREATE DOMAIN lak_r15_s.dom AS INTEGER CHECK (lak_r15_s.w2(VALUE, 0) IS NOT NULL)",
            "ALTER TABLE lak_hid_account ADD COLUMN code lak_r15_s.dom",
        ],
        _INSERT.format(value="5"),
        None,
    ),
    "mixed_case_overloaded_function": (
        [
            'CREATE FUNCTION "LakR15W"(a TEXT) RETURNS TEXT AS $$ SELECT a $$ LANGUAGE sql',
            'CREATE FUNCTION "LakR15W"(a INTEGER) RETURNS INTEGER AS $$ SELECT lak_r15_w(a, 0) $$ LANGUAGE sql',
            'ALTER TABLE lak_hid_account ADD CONSTRAINT lak_r15_ck CHECK ("LakR15W"(id) IS NOT NULL)',
        ],
        _INSERT_PLAIN,
        None,
    ),
    "table_of_reflected_non_default_schema": (
        [
            "CREATE SCHEMA lak_r15_s",
            "CREATE TABLE lak_r15_s.lak_r15_t (id INTEGER CHECK (public.lak_r15_w(id, 0) IS NOT NULL))",
        ],
        "INSERT INTO lak_r15_s.lak_r15_t (id) VALUES (3)",
        "lak_r15_s",
    ),
}


@pytest.mark.parametrize("via", list(_HANDLED))
def test_write_running_function_read_from_the_catalog(hidden: Env, via: str) -> None:
    """Shapes `_PG_DEFAULTS_AND_CHECKS` handles (kept as regression guards): a NOT VALID CHECK (still enforced on new
    rows, still in pg_depend); a CHECK on an inheritance parent written through its child (the child holds an
    inherited copy of the constraint, with its own dependencies) or on a partitioned parent written through it; a
    DEFAULT calling a function that calls the writer (the call is followed); an operator whose function is in another
    schema; a column of another schema's domain; a quoted mixed-case function overloaded by name; a table of a
    non-default schema, reflected with `reflect_dependencies(schema=...)`, whose CHECK calls a public function."""
    engine = _only(hidden, "postgresql")
    setup, write, schema = _HANDLED[via]
    _exec(engine, _WRITER.format(name="lak_r15_w"), *setup, "DELETE FROM lak_hid_audit")
    try:
        _reflect(engine)
        if schema is not None:
            _reflect(engine, schema)
        _audit_after(hidden, _raw(write))
    finally:
        _cleanup(
            engine,
            "DROP TABLE IF EXISTS lak_r15_par CASCADE",
            "ALTER TABLE lak_hid_account DROP CONSTRAINT IF EXISTS lak_r15_ck",
            "ALTER TABLE lak_hid_account DROP COLUMN IF EXISTS code",
            "DROP OPERATOR IF EXISTS public.#@# (INTEGER, INTEGER)",
            "DROP SCHEMA IF EXISTS lak_r15_s CASCADE",
            'DROP FUNCTION IF EXISTS "LakR15W"(TEXT)',
            'DROP FUNCTION IF EXISTS "LakR15W"(INTEGER)',
            "DROP FUNCTION IF EXISTS lak_r15_mid()",
            *_DROP_COMMON,
        )
