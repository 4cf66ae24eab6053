"""The functions a write to a PostgreSQL table runs without naming them, from the catalog's dependencies (invariant 4).

A write to a table runs, besides its triggers' functions, the expressions the table holds: its column ``DEFAULT``s
(generated columns included), its constraints (a ``CHECK``; the operators a foreign key compares with), its
triggers' ``WHEN`` conditions, its indexes (an expression, a partial index's predicate, the operators and support
functions of each operator class, which hold an exclusion constraint's operators), its row-level security policies,
a partitioned table's key (its expression, its operator class: a partition's constraint evaluates its ancestors'
keys), and what its columns' types run: a domain's ``DEFAULT`` and ``CHECK``, for a column of the domain, of a
domain over it, of an array of it, of a range (or multirange) over it, or of a composite type with a field of it.
Each may call a function, or use an operator whose function runs.

PostgreSQL records every such call in ``pg_depend`` (an operator as the operator: its ``oprcode`` is the
function). Nothing here reads an expression's text: a ``DEFAULT (1 #@# 1)`` names no function, and a printed
definition omits a schema on the search_path. Functions of ``pg_catalog`` are left out: they write no table.

Not read (known holes, remedy ``declare_dependency``): a cast a write applies to a column's type (``CREATE CAST ...
AS ASSIGNMENT``, a foreign key through an implicit cast), a range's subtype operator class, an array element's
default operator class in an index, and ``pg_catalog``'s functions running SQL given as text (``query_to_xml``). A
role that bypasses row-level security runs no policy; counting the policy's functions all the same costs an extra
invalidation at most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy import bindparam, text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ("pg_write_runs",)

# (relation, function, the function's schema) for the schema's relations: their DEFAULTs, constraints, triggers'
# WHEN conditions, indexes and policies. `rels` is inlined (NOT MATERIALIZED) so that each branch joins pg_class by
# its unique oid: a materialized CTE's rows are guessed, and the guess made the plan cost enough to be JIT compiled.
_RELATION_RUNS: Final = text(
    "WITH rels AS NOT MATERIALIZED ("
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
    "), refs AS ("
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
    "WHERE refs.refclassid = 'pg_opclass'::regclass"
    ") SELECT DISTINCT r.relname, p.proname, pn.nspname, r.nspname "
    "FROM called JOIN rels r ON r.oid = called.rel JOIN pg_proc p ON p.oid = called.fn "
    "JOIN pg_namespace pn ON pn.oid = p.pronamespace WHERE pn.nspname <> 'pg_catalog'"
)
# (domain, function, the function's schema): what each domain's DEFAULT and CHECK constraints run (usually no row)
_DOMAIN_RUNS: Final = text(
    "WITH src AS ("
    "SELECT t.oid AS dom, 'pg_type'::regclass AS classid, t.oid AS objid FROM pg_type t WHERE t.typtype = 'd' "
    "UNION ALL SELECT k.contypid, 'pg_constraint'::regclass, k.oid FROM pg_constraint k WHERE k.contypid <> 0"
    "), refs AS ("
    "SELECT src.dom, dep.refclassid, dep.refobjid FROM src "
    "JOIN pg_depend dep ON dep.classid = src.classid AND dep.objid = src.objid"
    "), called AS ("
    "SELECT dom, refobjid AS fn FROM refs WHERE refclassid = 'pg_proc'::regclass "
    "UNION ALL SELECT refs.dom, o.oprcode FROM refs JOIN pg_operator o ON o.oid = refs.refobjid "
    "WHERE refs.refclassid = 'pg_operator'::regclass"
    ") SELECT DISTINCT called.dom, p.proname, pn.nspname FROM called JOIN pg_proc p ON p.oid = called.fn "
    "JOIN pg_namespace pn ON pn.oid = p.pronamespace WHERE pn.nspname <> 'pg_catalog'"
)
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

    Args:
        connection: a connection to a PostgreSQL database.
        schema: the schema whose relations to read (``None``: the current one).
    """
    runs: dict[str, set[str]] = {}
    elsewhere: set[str] = set()
    params = {"schema": schema}
    found = [*connection.execute(_RELATION_RUNS, params), *_domain_runs(connection, schema)]
    for relation, function, function_schema, relation_schema in found:
        runs.setdefault(str(relation), set()).add(str(function).lower())
        if function_schema != relation_schema:
            elsewhere.add(str(function_schema))
    return runs, elsewhere


def _domain_runs(connection: Connection, schema: str | None) -> list[tuple[str, str, str, str]]:
    """(relation, function, its schema, the relation's schema) for what the schema's columns' domains run."""
    runs_of: dict[int, set[tuple[str, str]]] = {}
    for domain, function, function_schema in connection.execute(_DOMAIN_RUNS):
        runs_of.setdefault(int(domain), set()).add((str(function), str(function_schema)))
    if not runs_of:
        return []
    version: tuple[int, ...] = tuple(connection.dialect.server_version_info or ())
    multirange = _MULTIRANGE if version >= (14,) else ""
    holders = text(_HOLDERS.format(multirange=multirange)).bindparams(bindparam("types", expanding=True))
    held: dict[int, set[int]] = {domain: {domain} for domain in runs_of}  # type -> the domains with runs it holds
    frontier: set[int] = set(runs_of)
    while frontier:  # up the types holding them, to a fixpoint: a type's holders are found once per new domain
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
        for domain in held[int(column_type)]:
            found.extend((str(relation), *run, str(relation_schema)) for run in runs_of[domain])
    return found
