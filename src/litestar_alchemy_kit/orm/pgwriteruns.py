"""The functions a write to a PostgreSQL table runs without naming them, from the catalog's dependencies (invariant 4).

A write to a table runs, besides its triggers' functions, the expressions the table holds: its column ``DEFAULT``s
(generated columns included), its constraints (a ``CHECK``; the operators a foreign key compares with), its
triggers' ``WHEN`` conditions, its indexes (an expression, a partial index's predicate, the operators and support
functions of each operator class, which hold an exclusion constraint's operators), its row-level security policies,
a partitioned table's key (its expression, its operator class: a partition's constraint evaluates its ancestors'
keys), and what its columns' types run: a domain's ``DEFAULT`` and ``CHECK``, the casts to the type (a value given
as another type is converted on assignment) and its implicit casts to others (a foreign key compares through
them), a range's subtype operator class, canonical and subtype-difference functions, and the type's default
operator classes (an array's or a composite's comparison compares its elements or fields with them). What a type
runs, a column runs when its type is the type, a domain over it, an array of it, a range (or multirange) over it,
or a composite type with a field of it. Each may call a function, or use an operator whose function runs.

PostgreSQL records every such call in ``pg_depend``, ``pg_cast``, ``pg_range`` and ``pg_opclass`` (an operator as
the operator: its ``oprcode`` is the function). Nothing here reads an expression's printed text: a ``DEFAULT (1 #@#
1)`` names no function, and a printed definition omits a schema on the search_path. Functions of ``pg_catalog`` are
left out, they write no table, except those running SQL given as text (:data:`SQL_RUNNERS`), which may run anything.
``pg_depend`` holds no dependency on them (they are pinned): their calls are found by oid in the expressions' stored
trees (``{FUNCEXPR :funcid 2925 ...``), which costs a scan of every expression's tree.

Counting a type's casts and operator classes for every column of it is wider than what a given write runs (an
``INSERT`` of a value of the column's own type casts nothing): an extra invalidation at most, and only where such a
function writes. A role that bypasses row-level security runs no policy; counting the policy's functions all the
same costs an extra invalidation at most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy import bindparam, text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ("SQL_RUNNERS", "pg_write_runs")

SQL_RUNNERS: Final = frozenset(
    {
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "query_to_xml",
        "query_to_xml_and_xmlschema",
        "query_to_xmlschema",
        "ts_rewrite",
        "ts_stat",
    }
)
"""``pg_catalog``'s functions that run SQL given as text (or a cursor's): a call may run any function, any write."""

# A regular expression finding a call of one of :runners in an expression's node tree (pg_depend holds no dependency
# on pg_catalog's pinned functions): `{FUNCEXPR :funcid 2925 ...`; no row, and no match, when none is known.
_RUNNER_PATTERN: Final = (
    "runner_re AS (SELECT '\\:funcid (' || string_agg(p.oid::text, '|') || ')\\M' AS re FROM pg_proc p "
    "WHERE p.proname IN :runners AND p.pronamespace = 'pg_catalog'::regnamespace)"
)
# (relation, function, the function's schema) for the schema's relations: their DEFAULTs, constraints, triggers'
# WHEN conditions, indexes and policies. `rels` is inlined (NOT MATERIALIZED) so that each branch joins pg_class by
# its unique oid: a materialized CTE's rows are guessed, and the guess made the plan cost enough to be JIT compiled.
_RELATION_RUNS: Final = text(
    "WITH rels AS NOT MATERIALIZED ("  # noqa: S608 - constant SQL
    "SELECT c.oid, c.relname, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = COALESCE(:schema, current_schema())"
    "), src AS ("
    "SELECT d.adrelid AS rel, 'pg_attrdef'::regclass AS classid, d.oid AS objid "
    "FROM rels JOIN pg_attrdef d ON d.adrelid = rels.oid "
    "UNION ALL SELECT k.conrelid, 'pg_constraint'::regclass, k.oid FROM rels JOIN pg_constraint k ON k.conrelid = rels.oid "
    "UNION ALL SELECT t.tgrelid, 'pg_trigger'::regclass, t.oid FROM rels JOIN pg_trigger t ON t.tgrelid = rels.oid "
    "WHERE NOT t.tgisinternal "
    "UNION ALL SELECT i.indrelid, 'pg_class'::regclass, i.indexrelid FROM rels JOIN pg_index i ON i.indrelid = rels.oid "
    "UNION ALL SELECT p.polrelid, 'pg_policy'::regclass, p.oid FROM rels JOIN pg_policy p ON p.polrelid = rels.oid "
    # a partitioned table's key (expression, operator class) routes each row; a partition's constraint evaluates its
    # ancestors' keys: the table's own dependencies, and its ancestors' (none for a table outside any partitioning)
    "UNION ALL SELECT rels.oid, 'pg_class'::regclass, anc.relid FROM rels "
    "CROSS JOIN LATERAL pg_partition_ancestors(rels.oid) anc"
    "), trees AS ("
    "SELECT d.adrelid AS rel, d.adbin::text AS tree FROM rels JOIN pg_attrdef d ON d.adrelid = rels.oid "
    "UNION ALL SELECT k.conrelid, k.conbin::text FROM rels JOIN pg_constraint k ON k.conrelid = rels.oid "
    "WHERE k.conbin IS NOT NULL "
    "UNION ALL SELECT t.tgrelid, t.tgqual::text FROM rels JOIN pg_trigger t ON t.tgrelid = rels.oid "
    "WHERE t.tgqual IS NOT NULL AND NOT t.tgisinternal "
    "UNION ALL SELECT i.indrelid, concat(i.indexprs::text, i.indpred::text) FROM rels "
    "JOIN pg_index i ON i.indrelid = rels.oid WHERE i.indexprs IS NOT NULL OR i.indpred IS NOT NULL "
    "UNION ALL SELECT p.polrelid, concat(p.polqual::text, p.polwithcheck::text) FROM rels "
    "JOIN pg_policy p ON p.polrelid = rels.oid "
    "UNION ALL SELECT rels.oid, pt.partexprs::text FROM rels CROSS JOIN LATERAL pg_partition_ancestors(rels.oid) anc "
    "JOIN pg_partitioned_table pt ON pt.partrelid = anc.relid WHERE pt.partexprs IS NOT NULL"
    f"), {_RUNNER_PATTERN}, refs AS ("
    "SELECT src.rel, dep.refclassid, dep.refobjid FROM src "
    "JOIN pg_depend dep ON dep.classid = src.classid AND dep.objid = src.objid"
    "), called AS ("
    "SELECT rel, refobjid AS fn FROM refs WHERE refclassid = 'pg_proc'::regclass "
    "UNION ALL SELECT refs.rel, o.oprcode FROM refs JOIN pg_operator o ON o.oid = refs.refobjid "
    "WHERE refs.refclassid = 'pg_operator'::regclass "
    # an index runs its operator classes' support functions and operators (an exclusion constraint's among them)
    "UNION ALL SELECT refs.rel, pr.amproc FROM refs JOIN pg_opclass oc ON oc.oid = refs.refobjid "
    "JOIN pg_amproc pr ON pr.amprocfamily = oc.opcfamily WHERE refs.refclassid = 'pg_opclass'::regclass "
    "UNION ALL SELECT refs.rel, o.oprcode FROM refs JOIN pg_opclass oc ON oc.oid = refs.refobjid "
    "JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily JOIN pg_operator o ON o.oid = ao.amopopr "
    "WHERE refs.refclassid = 'pg_opclass'::regclass "
    # one runner per expression is enough: each may run anything
    "UNION ALL SELECT trees.rel, substring(trees.tree FROM runner_re.re)::oid FROM trees CROSS JOIN runner_re "
    "WHERE trees.tree ~ runner_re.re"
    ") SELECT DISTINCT r.relname, p.proname, pn.nspname, r.nspname "
    "FROM called JOIN rels r ON r.oid = called.rel JOIN pg_proc p ON p.oid = called.fn "
    "JOIN pg_namespace pn ON pn.oid = p.pronamespace WHERE pn.nspname <> 'pg_catalog' OR p.proname IN :runners"
).bindparams(bindparam("runners", expanding=True))
# (type, function, the function's schema): what a value of each type runs (usually no row): a domain's DEFAULT and
# CHECK constraints, the casts to the type and its implicit casts to others, a range's subtype operator class and its
# canonical and subtype-difference functions, the type's default operator classes (an array or a composite compares
# its elements or fields with them)
_TYPE_RUNS: Final = text(
    "WITH src AS ("  # noqa: S608 - constant SQL
    "SELECT t.oid AS typ, 'pg_type'::regclass AS classid, t.oid AS objid FROM pg_type t WHERE t.typtype = 'd' "
    "UNION ALL SELECT k.contypid, 'pg_constraint'::regclass, k.oid FROM pg_constraint k WHERE k.contypid <> 0"
    "), refs AS ("
    "SELECT src.typ, dep.refclassid, dep.refobjid FROM src "
    "JOIN pg_depend dep ON dep.classid = src.classid AND dep.objid = src.objid"
    f"), {_RUNNER_PATTERN}, opclasses AS ("
    "SELECT r.rngtypid AS typ, r.rngsubopc AS opc FROM pg_range r "
    "UNION ALL SELECT oc.opcintype, oc.oid FROM pg_opclass oc WHERE oc.opcdefault"
    "), called AS ("
    "SELECT typ, refobjid AS fn FROM refs WHERE refclassid = 'pg_proc'::regclass "
    "UNION ALL SELECT refs.typ, o.oprcode::oid FROM refs JOIN pg_operator o ON o.oid = refs.refobjid "
    "WHERE refs.refclassid = 'pg_operator'::regclass "
    "UNION ALL SELECT c.casttarget, c.castfunc FROM pg_cast c WHERE c.castfunc <> 0 "
    "UNION ALL SELECT c.castsource, c.castfunc FROM pg_cast c WHERE c.castfunc <> 0 AND c.castcontext = 'i' "
    "UNION ALL SELECT r.rngtypid, r.rngcanonical::oid FROM pg_range r "
    "UNION ALL SELECT r.rngtypid, r.rngsubdiff::oid FROM pg_range r "
    "UNION ALL SELECT opclasses.typ, pr.amproc::oid FROM opclasses JOIN pg_opclass oc ON oc.oid = opclasses.opc "
    "JOIN pg_amproc pr ON pr.amprocfamily = oc.opcfamily "
    "UNION ALL SELECT opclasses.typ, o.oprcode::oid FROM opclasses JOIN pg_opclass oc ON oc.oid = opclasses.opc "
    "JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily JOIN pg_operator o ON o.oid = ao.amopopr "
    "UNION ALL SELECT t.oid, substring(t.typdefaultbin::text FROM runner_re.re)::oid FROM pg_type t "
    "CROSS JOIN runner_re WHERE t.typtype = 'd' AND t.typdefaultbin::text ~ runner_re.re "
    "UNION ALL SELECT k.contypid, substring(k.conbin::text FROM runner_re.re)::oid FROM pg_constraint k "
    "CROSS JOIN runner_re WHERE k.contypid <> 0 AND k.conbin::text ~ runner_re.re"
    ") SELECT DISTINCT called.typ, p.proname, pn.nspname FROM called JOIN pg_proc p ON p.oid = called.fn "
    "JOIN pg_namespace pn ON pn.oid = p.pronamespace WHERE pn.nspname <> 'pg_catalog' OR p.proname IN :runners"
).bindparams(bindparam("runners", expanding=True))
# (holder, held): the types holding one of :types, one level up (a domain over it, an array of it, a range over it, a
# multirange over such a range, a composite type or a relation's row type with a field of it)
_HOLDERS: Final = (
    "SELECT t.oid, t.typbasetype FROM pg_type t WHERE t.typtype = 'd' AND t.typbasetype IN :types "
    "UNION ALL SELECT t.oid, t.typelem FROM pg_type t WHERE t.typcategory = 'A' AND t.typelem IN :types "
    "UNION ALL SELECT r.rngtypid, r.rngsubtype FROM pg_range r WHERE r.rngsubtype IN :types "
    "{multirange}"
    "UNION ALL SELECT c.reltype, a.atttypid FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "WHERE a.atttypid IN :types AND a.attnum > 0 AND NOT a.attisdropped AND c.reltype <> 0"
)
_MULTIRANGE: Final = "UNION ALL SELECT r.rngmultitypid, r.rngtypid FROM pg_range r WHERE r.rngtypid IN :types "
"""A multirange holds its range (PostgreSQL 14 and later)."""
# (relation, column type, the relation's schema): the schema's relations with a column of one of :types
_COLUMNS_OF: Final = text(
    "SELECT c.relname, a.atttypid, n.nspname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = COALESCE(:schema, current_schema()) "
    "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.atttypid IN :types AND a.attnum > 0 AND NOT a.attisdropped"
).bindparams(bindparam("types", expanding=True))


def pg_write_runs(connection: Connection, schema: str | None) -> tuple[dict[str, set[str]], set[str]]:
    """The functions a write to each relation of ``schema`` runs (by name), and the other schemas holding them.

    ``pg_catalog`` is never among the other schemas: of its functions only :data:`SQL_RUNNERS` are named.

    Args:
        connection: a connection to a PostgreSQL database.
        schema: the schema whose relations to read (``None``: the current one).
    """
    runs: dict[str, set[str]] = {}
    elsewhere: set[str] = set()
    params = {"schema": schema, "runners": sorted(SQL_RUNNERS)}
    found = [*connection.execute(_RELATION_RUNS, params), *_type_runs(connection, schema)]
    for relation, function, function_schema, relation_schema in found:
        runs.setdefault(str(relation), set()).add(str(function).lower())
        if function_schema not in {relation_schema, "pg_catalog"}:
            elsewhere.add(str(function_schema))
    return runs, elsewhere


def _type_runs(connection: Connection, schema: str | None) -> list[tuple[str, str, str, str]]:
    """(relation, function, its schema, the relation's schema) for what the schema's columns' types run."""
    runs_of: dict[int, set[tuple[str, str]]] = {}
    for type_, function, function_schema in connection.execute(_TYPE_RUNS, {"runners": sorted(SQL_RUNNERS)}):
        runs_of.setdefault(int(type_), set()).add((str(function), str(function_schema)))
    if not runs_of:
        return []
    version: tuple[int, ...] = tuple(connection.dialect.server_version_info or ())
    multirange = _MULTIRANGE if version >= (14,) else ""
    holders = text(_HOLDERS.format(multirange=multirange)).bindparams(bindparam("types", expanding=True))
    held: dict[int, set[int]] = {type_: {type_} for type_ in runs_of}  # type -> the types with runs it holds
    frontier: set[int] = set(runs_of)
    while frontier:  # up the types holding them, to a fixpoint: a type's holders are found once per new type with runs
        rows = connection.execute(holders, {"types": sorted(frontier)}).all()
        frontier = set()
        for holder, inner in rows:
            known = held.setdefault(int(holder), set())
            added = held[int(inner)] - known
            if added:
                known |= added
                frontier.add(int(holder))
    found: list[tuple[str, str, str, str]] = []
    for relation, column_type, relation_schema in connection.execute(
        _COLUMNS_OF, {"schema": schema, "types": sorted(held)}
    ):
        for type_ in held[int(column_type)]:
            found.extend((str(relation), *run, str(relation_schema)) for run in runs_of[type_])
    return found
