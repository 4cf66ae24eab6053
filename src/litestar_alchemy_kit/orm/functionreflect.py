"""What the database tells of its functions' bodies: the tables each reads and writes (invariants 5 and 4, discovered).

- PostgreSQL: ``pg_proc.prosrc`` of the schema's functions (``prokind = 'f'``). ``sql`` and ``plpgsql``
  bodies are analysed; any other language (C, ``internal``, ``plpython3u``...) cannot be, nor can a
  ``plpgsql`` body running dynamic SQL (``EXECUTE``).
- MySQL / MariaDB: ``information_schema.ROUTINES.ROUTINE_DEFINITION`` of the schema's functions (NULL
  without the privilege to see it: not analysable). Loadable (UDF) functions are not listed.
- SQLite, DuckDB and others: nothing. SQLite's functions are registered by Python code
  (``create_function``), which the database cannot show: declare the ones that read tables
  (:func:`~litestar_alchemy_kit.orm.functions.declare_function`).

A body is parsed as view definitions are (``sqlglot``, the ``sql`` extra); one that does not parse as
plain SQL (procedural blocks), or any body without the extra, depends on every known table or view
whose name it mentions. A function that cannot be analysed may read any table (see
:data:`~litestar_alchemy_kit.orm.functions.OPAQUE`): never trusted to read none.

Writes run functions without naming them (:func:`reflect_write_calls`): what a PostgreSQL table holds (column
``DEFAULT``s, constraints, indexes, policies, its columns' domains, a trigger's ``WHEN``: see
:mod:`~litestar_alchemy_kit.orm.pgwriteruns`; MySQL and MariaDB refuse stored functions there), and triggers,
whose bodies are analysed as functions' are (PostgreSQL: the trigger's function; MySQL / MariaDB and SQLite: the trigger's own SQL), and
PostgreSQL's rules on writes, whose actions are analysed as a trigger's SQL is.

A body writes when it holds a writing statement (``INSERT``, ``UPDATE``, ``DELETE``, ``TRUNCATE``,
``MERGE``, MySQL's ``REPLACE INTO``; a word in a comment or a ``FOR UPDATE`` counts too: an extra
invalidation at most). It writes the tables sqlglot finds in a plain SQL body's writing statements (their
targets, and the tables they read, as for raw DML); in any other body every known table it mentions and
every target named after those keywords. A body that may write something no name tells (``CALL``,
``DROP``, ``ALTER``, no table found), or that cannot be analysed, writes the whole namespace: on
PostgreSQL only when ``VOLATILE`` (a ``STABLE`` or ``IMMUTABLE`` ``sql`` / ``plpgsql`` function cannot
write; a C one is trusted to its declaration), on MySQL / MariaDB always (``READS SQL DATA`` is advisory).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import text

from litestar_alchemy_kit.orm.functions import Learnt, called_names, either, learn, note_write_calls
from litestar_alchemy_kit.orm.pgwriteruns import SQL_RUNNERS, pg_write_runs
from litestar_alchemy_kit.orm.rawtext import NONDETERMINISTIC_SQL

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Connection

__all__ = ("PURE_EXTENSIONS", "analyse_body", "reflect_functions", "reflect_write_calls")

_ANALYSED_LANGUAGES: Final = frozenset({"sql", "plpgsql"})
PURE_EXTENSIONS: Final = frozenset(
    {
        "autoinc",
        "bloom",
        "btree_gin",
        "btree_gist",
        "citext",
        "cube",
        "dict_int",
        "dict_xsyn",
        "earthdistance",
        "fuzzystrmatch",
        "hstore",
        "insert_username",
        "intarray",
        "isn",
        "lo",
        "ltree",
        "moddatetime",
        "pg_trgm",
        "pgcrypto",
        "seg",
        "tablefunc",
        "tsm_system_rows",
        "tsm_system_time",
        "unaccent",
        "uuid-ossp",
        "vector",
    }
)
"""PostgreSQL extensions whose compiled functions read and write no table of the application (contrib's types,
indexes, text search, ``uuid-ossp``, ``pgcrypto``, ``moddatetime``; pgvector): reflected, they are pure (a
``VOLATILE`` one's result still varies). Any other extension's compiled function cannot be analysed: it may read
any table and, ``VOLATILE``, write any (contrib's ``refint`` deletes rows, ``postgis`` alters tables)."""
_DYNAMIC_SQL: Final = re.compile(r"\bexecute\b", re.IGNORECASE)
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][\w$]*")
_SIMPLE: Final = re.compile(r"[a-z_][\w$]*\Z")
_NONE: Final[frozenset[tuple[str | None, str]]] = frozenset()
_WRITE_SQL: Final = re.compile(
    r"\b(?:insert|update|delete|merge|truncate|replace\s+into|call|drop|alter|refresh)\b", re.IGNORECASE
)
# writes whose tables no name in the body tells: a procedure, DDL
_UNTOLD_WRITE_SQL: Final = re.compile(r"\b(?:call|drop|alter|refresh)\b", re.IGNORECASE)
# the target named after a writing keyword, optionally schema-qualified and quoted
_TARGET: Final = re.compile(
    r"\b(?:insert\s+(?:ignore\s+)?into|update(?:\s+only)?|delete\s+from|truncate(?:\s+table)?(?:\s+only)?|"
    r"merge\s+into|replace\s+into)\s+([\w$\"`]+(?:\s*\.\s*[\w$\"`]+)?)",
    re.IGNORECASE,
)

# the last column: the extension owning the function ('' for none)
_PG_FUNCTIONS: Final = (
    "SELECT p.proname, l.lanname, COALESCE(NULLIF(p.prosrc, ''), pg_get_functiondef(p.oid)), p.provolatile::text, "
    "COALESCE((SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid "
    "WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e' LIMIT 1), '') "
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
    "WHERE p.prokind = 'f' AND n.nspname = COALESCE(:schema, current_schema())"
)
# every schema's relations: a body may name a table of a schema other than its own
_PG_RELATIONS: Final = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
)
_MY_FUNCTIONS: Final = (
    "SELECT ROUTINE_NAME, 'sql', ROUTINE_DEFINITION, 'v', '' FROM information_schema.ROUTINES "
    "WHERE ROUTINE_TYPE = 'FUNCTION' AND ROUTINE_SCHEMA = COALESCE(:schema, DATABASE())"
)
_MY_RELATIONS: Final = (
    "SELECT TABLE_NAME FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"
)


# the schemas (other than the relation's and PostgreSQL's own) of the functions a rule or a view calls, as the
# database records them (its definitions print no schema that is on the search_path)
_PG_CALLED_SCHEMAS: Final = (
    "SELECT DISTINCT pn.nspname FROM pg_depend dep "
    "JOIN pg_proc p ON p.oid = dep.refobjid JOIN pg_namespace pn ON pn.oid = p.pronamespace "
    "JOIN pg_rewrite r ON r.oid = dep.objid JOIN pg_class c ON c.oid = r.ev_class "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE dep.refclassid = 'pg_proc'::regclass AND dep.classid = 'pg_rewrite'::regclass "
    "AND n.nspname = COALESCE(:schema, current_schema()) AND pn.oid <> n.oid AND pn.nspname <> 'pg_catalog'"
)
# (relation, function, body, the function's schema, '' for the reflected one): PostgreSQL's user triggers run a
# function, of any schema (the body is the reflection of that schema's functions' business)
_PG_TRIGGERS: Final = (
    "SELECT c.relname, p.proname, '', CASE WHEN pn.oid = n.oid THEN '' ELSE pn.nspname END "
    "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace "
    "WHERE NOT t.tgisinternal AND n.nspname = COALESCE(:schema, current_schema())"
)
# (relation, trigger, body, ''): the other databases' triggers hold their SQL
_MY_TRIGGERS: Final = (
    "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_STATEMENT, '' FROM information_schema.TRIGGERS "
    "WHERE EVENT_OBJECT_SCHEMA = COALESCE(:schema, DATABASE())"
)
# (relation, rule, definition, ''): PostgreSQL's rules on writes (a view's own ``_RETURN`` rule is its SELECT); a
# rule's actions run with the write, as a trigger's body does
_PG_RULES: Final = (
    "SELECT c.relname, r.rulename, pg_get_ruledef(r.oid), '' FROM pg_rewrite r "
    "JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE r.ev_type <> '1' AND n.nspname = COALESCE(:schema, current_schema())"
)
_RULE_DO: Final = re.compile(r"\bdo\s+(?:also\b|instead\b)?", re.IGNORECASE)
_RULE_WHERE: Final = re.compile(r"\bwhere\b", re.IGNORECASE)
_QUOTED: Final = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")  # pg_get_ruledef's literals and identifiers
_PG_SCHEMAS: Final = (
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
)
_PG_IDENTIFIER: Final = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'  # quoted, or a letter (any script) or _ first
# a call qualified by its schema (and maybe its database): other.fn( / "Other"."fn" ( / db.other.fn(
_QUALIFIED_CALL: Final = re.compile(rf'(?<![\w$."])((?:{_PG_IDENTIFIER}\s*\.\s*)+){_PG_IDENTIFIER}\s*\(')
_PG_NAME: Final = re.compile(_PG_IDENTIFIER)
_SQLITE_TRIGGERS: Final = "SELECT tbl_name, name, sql, '' FROM {master} WHERE type = 'trigger'"
_SQLITE_RELATIONS: Final = "SELECT name FROM {master} WHERE type IN ('table', 'view')"
_SQLITE_MAIN: Final = "sqlite_master"
_SQLITE_TEMP: Final = "sqlite_temp_master"  # TEMP triggers (the connection's own) fire on the main schema's tables
_BEGIN: Final = re.compile(r"\bbegin\b", re.IGNORECASE)
_SQLITE_LITERAL: Final = re.compile(r"'(?:[^']|'')*'")  # SQLite's only string literal (no backslash escapes)


def reflect_write_calls(connection: Connection, schema: str | None = None) -> int:
    """Learn the functions writes to the schema's tables run without naming them: DEFAULTs, CHECKs, triggers.

    PostgreSQL: a trigger runs its function, learnt as :func:`reflect_functions` learns the schema's (the
    functions of another schema holding a trigger function are reflected here, merged; one of ``pg_catalog``,
    PostgreSQL's own, such as ``tsvector_update_trigger``, writes no table), so ``declare_function`` overrides
    it by its name. Elsewhere
    a trigger's body is learnt as a function of its own, named ``<trigger NAME on TABLE>``. A write to the
    table then runs them: when they write, so does the statement (see
    :func:`~litestar_alchemy_kit.orm.functions.hidden_calls`), and so does any write to the table (a cascade,
    another trigger, a function: edges of the dependency graph). What a relation is learnt to run adds up.
    PostgreSQL's rules on writes (``CREATE RULE ... DO ALSO | INSTEAD``) are learnt as triggers elsewhere are:
    their actions as ``<rule NAME on RELATION>`` (``DO INSTEAD NOTHING`` writes nothing). A PostgreSQL table's
    ``DEFAULT``s, constraints, indexes, policies, columns' domains and triggers' ``WHEN`` conditions run the functions
    the catalog records them to depend on (:func:`~litestar_alchemy_kit.orm.pgwriteruns.pg_write_runs`).

    Args:
        connection: a connection to the database.
        schema: the schema whose tables to reflect (``None``: the default one).

    Returns:
        The number of functions learnt to run on writes (a table counted once per function).
    """
    dialect = connection.dialect.name
    queries = _write_call_queries(connection, schema)
    if queries is None:
        return 0  # no triggers the database can show
    triggers_sql, relations_sql, params = queries
    found: list[Any] = list(connection.execute(text(triggers_sql), params))
    rules: list[Any] = list(connection.execute(text(_PG_RULES), params)) if dialect == "postgresql" else []
    known = [str(name) for (name,) in connection.execute(text(relations_sql))] if found or rules else []
    runs: dict[str, set[str]]
    if dialect == "postgresql":
        runs, elsewhere = pg_write_runs(connection, schema)  # their functions of other schemas: reflected with them
        # pg_catalog's, never reflected: the SQL text they run cannot be told, so they may write anything
        runners = {name for names in runs.values() for name in names if name in SQL_RUNNERS}
        if runners:
            learn({name: Learnt(_NONE, opaque=True, writes_unknown=True) for name in sorted(runners)})
        elsewhere |= {str(other) for (other,) in connection.execute(text(_PG_CALLED_SCHEMAS), params)}
        _trigger_functions(connection, found, runs, elsewhere)
        _learn_bodies(
            "rule",
            [(table, rule, _rule_actions(str(body or ""))) for table, rule, body, _ in rules],
            known,
            dialect,
            runs,
        )
    else:
        runs = {}
        # SQLite keeps the whole CREATE TRIGGER statement: its body is what BEGIN ... END holds
        bodies = [
            (table, trigger, _sqlite_trigger_body(str(body or "")) if dialect == "sqlite" else str(body or ""))
            for table, trigger, body, _ in found
        ]
        _learn_bodies("trigger", bodies, known, dialect, runs)
    for table, names in runs.items():
        note_write_calls(table, names)
    return sum(map(len, runs.values()))


def _learn_bodies(
    kind: str, found: list[tuple[Any, Any, str]], known: list[str], dialect: str, runs: dict[str, set[str]]
) -> None:
    """Learn each (relation, name, SQL) as a function ``<KIND NAME on RELATION>`` that writes to the relation run."""
    bodies: dict[str, Learnt] = {}
    for table, own, body in found:
        name = f"<{kind} {str(own).lower()} on {str(table).lower()}>"
        # an empty body does nothing (a rule's DO INSTEAD NOTHING), not something that cannot be told
        bodies[name] = analyse_body(body, "sql", known, dialect) if body.strip() else Learnt(_NONE)
        runs.setdefault(str(table), set()).add(name)
    learn(bodies)  # one of the same name on a relation of the same name in another schema: either may run


def _rule_actions(definition: str) -> str:
    """What ``CREATE RULE ... [WHERE condition] DO [ALSO | INSTEAD] actions`` runs (from ``pg_get_ruledef``).

    The condition (evaluated with the actions: a function it calls runs) as a ``SELECT``, then the actions; '' for
    neither (``DO INSTEAD NOTHING``). The whole definition when it cannot be split: its every write is then counted.
    """
    masked = _QUOTED.sub(lambda found: " " * len(found.group()), definition)
    do = _RULE_DO.search(masked)
    if do is None:
        return definition
    where = _RULE_WHERE.search(masked, 0, do.start())
    condition = definition[where.end() : do.start()].strip() if where is not None else ""
    actions = definition[do.end() :].strip().rstrip(";").strip()
    if actions.startswith("(") and actions.endswith(")"):
        actions = actions[1:-1]
    if actions.strip().upper() == "NOTHING":
        actions = ""
    return f"SELECT {condition};\n{actions}" if condition else actions


def _sqlite_trigger_body(statement: str) -> str:
    """What ``CREATE TRIGGER ... BEGIN ... END`` runs: after its first ``BEGIN`` outside a literal (a ``WHEN`` may hold one)."""
    masked = _SQLITE_LITERAL.sub(lambda found: " " * len(found.group()), statement)
    begin = _BEGIN.search(masked)
    return statement if begin is None else statement[begin.end() :]


def _trigger_functions(
    connection: Connection, found: list[Any], runs: dict[str, set[str]], elsewhere: set[str]
) -> None:
    """PostgreSQL: each trigger runs its function, by name.

    The functions of other schemas a trigger, a column DEFAULT, a rule or a view (``elsewhere``) runs are reflected with
    their schema's (merged), and those of the schemas they call by a qualified name.
    """
    trusted: dict[str, Learnt] = {}  # PostgreSQL's own
    schemas: set[str] = set(elsewhere)
    for table, function, _, function_schema in found:
        name = str(function).lower()
        runs.setdefault(str(table), set()).add(name)
        if function_schema == "pg_catalog":
            trusted[name] = Learnt(_NONE)
        elif function_schema:  # reflect_functions learnt those of the reflected schema
            schemas.add(str(function_schema))
    if trusted:  # a name shared with a function of the reflected schema: a call may be either
        learn(trusted)
    seen: set[str] = set()  # _reflect_functions adds each schema it reflects, and follows their qualified calls
    for other in sorted(schemas):  # the trigger function, and the functions it calls there
        if other not in seen:
            _reflect_functions(connection, other, seen)


def _write_call_queries(connection: Connection, schema: str | None) -> tuple[str, str, dict[str, Any]] | None:
    """The dialect's queries of triggers and of relation names, and their parameters."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return _PG_TRIGGERS, _PG_RELATIONS, {"schema": schema}
    if dialect in {"mysql", "mariadb"}:  # a DEFAULT or a CHECK cannot call a stored function there
        return _MY_TRIGGERS, _MY_RELATIONS, {"schema": schema}
    if dialect == "sqlite":
        quote = connection.dialect.identifier_preparer.quote
        masters = [_SQLITE_MAIN, _SQLITE_TEMP] if schema is None else [f"{quote(schema)}.{_SQLITE_MAIN}"]
        triggers = " UNION ALL ".join(_SQLITE_TRIGGERS.format(master=master) for master in masters)
        relations = " UNION ALL ".join(_SQLITE_RELATIONS.format(master=master) for master in masters)
        return triggers, relations, {}
    return None


def reflect_functions(connection: Connection, schema: str | None = None) -> int:
    """Learn the tables the schema's functions read and write (PostgreSQL, MySQL, MariaDB; elsewhere nothing).

    Added to what is known of the same names (another schema's, or an earlier reflection's): a call by name
    may be any of them. ``forget_dependencies()`` starts over. On PostgreSQL the functions of the schemas their
    bodies call by a qualified name (``other.fn(...)``) are learnt too, transitively.

    Args:
        connection: a connection to the database.
        schema: the schema whose functions to reflect (``None``: the default one).

    Returns:
        The number of dependencies learnt: a table read or written, a function called, an unanalysable body,
        a write of untold tables.
    """
    return _reflect_functions(connection, schema, set())


def _reflect_functions(connection: Connection, schema: str | None, seen: set[str]) -> int:
    if schema is not None:
        seen.add(schema)
    dialect = connection.dialect.name
    if dialect == "postgresql":
        queries = (_PG_FUNCTIONS, _PG_RELATIONS)
    elif dialect in {"mysql", "mariadb"}:
        queries = (_MY_FUNCTIONS, _MY_RELATIONS)
    else:
        return 0  # no stored functions the database can show (SQLite's are Python callables)
    rows: list[Any] = list(connection.execute(text(queries[0]), {"schema": schema}))
    if not rows:
        return 0
    known = [str(name) for (name,) in connection.execute(text(queries[1]))]
    learnt: dict[str, Learnt] = {}
    for name, language, body, volatility, extension in rows:
        volatile = str(volatility) == "v"
        if str(extension) in PURE_EXTENSIONS and str(language).lower() not in _ANALYSED_LANGUAGES:
            found = Learnt(_NONE, varies=volatile)  # a VOLATILE one's result still varies (gen_random_bytes)
        else:
            found = analyse_body(str(body or ""), str(language).lower(), known, dialect, volatile=volatile)
        # overloads share a name, and a call is matched by name: it may be any of them
        learnt[str(name)] = either(learnt[str(name)], found) if str(name) in learnt else found
    learn(learnt)  # a name another schema shares, or reflected before: a call may be either
    count = sum(
        len(each.reads) + len(each.calls) + each.opaque + len(each.writes) + each.writes_unknown
        for each in learnt.values()
    )
    if dialect == "postgresql":
        for other in sorted(_named_schemas(connection, [str(row[2] or "") for row in rows]) - seen):
            if other not in seen:  # reflected meanwhile, by a call followed from an earlier one
                count += _reflect_functions(connection, other, seen)
    return count


def _named_schemas(connection: Connection, sources: Iterable[str]) -> set[str]:
    """PostgreSQL: the schemas of the database ``sources`` call a function of by a qualified name."""
    qualifiers = [_PG_NAME.findall(prefix)[-1] for source in sources for prefix in _QUALIFIED_CALL.findall(source)]
    named = {found[1:-1].replace('""', '"') if found.startswith('"') else found.lower() for found in qualifiers}
    if not named:
        return set()
    return named & {str(name) for (name,) in connection.execute(text(_PG_SCHEMAS))}


def analyse_body(body: str, language: str, known: Iterable[str], dialect: str, *, volatile: bool = True) -> Learnt:
    """What a function body reads and writes: parsed with sqlglot where it is plain SQL, else the known names it mentions.

    Args:
        body: the body's source.
        language: its language, lower case (``sql``, ``plpgsql``; MySQL's are ``sql``).
        known: the names of the database's tables and views (for bodies that are not parsed).
        dialect: SQLAlchemy's dialect name.
        volatile: whether the database lets the function write (PostgreSQL's ``VOLATILE``): a body that cannot
            be analysed then may write any table.

    Returns:
        Its reads, writes and calls; opaque when it cannot be analysed.
    """
    if language not in _ANALYSED_LANGUAGES or not body.strip() or (language != "sql" and _DYNAMIC_SQL.search(body)):
        return Learnt(frozenset(), opaque=True, writes_unknown=volatile)
    varies = NONDETERMINISTIC_SQL.search(body) is not None
    parsed = _parsed(body, dialect) if language == "sql" else None
    reads = parsed if parsed is not None else _mentioned(body, known)
    # a STABLE or IMMUTABLE sql / plpgsql function cannot write (PostgreSQL refuses it)
    writes, unknown = _writes(body, dialect, reads if parsed is None else None) if volatile else (_NONE, False)
    return Learnt(reads, called_names(body), varies=varies, writes=writes, writes_unknown=unknown)


def _mentioned(body: str, known: Iterable[str]) -> frozenset[tuple[str | None, str]]:
    """The known tables and views an unparsed body names."""
    words = {word.lower() for word in _IDENTIFIER.findall(body)}
    lowered = body.lower()
    # a simple name is matched as a word (``orders`` is not read by a body naming ``orders_archive``);
    # any other (quoted, with spaces) as text
    return frozenset(
        (None, name.lower())
        for name in known
        if (name.lower() in words if _SIMPLE.match(name.lower()) else name.lower() in lowered)
    )


def _writes(
    body: str, dialect: str, mentioned: frozenset[tuple[str | None, str]] | None
) -> tuple[frozenset[tuple[str | None, str]], bool]:
    """The tables a body writes, and whether it may write others; ``mentioned``: the known tables an unparsed body names.

    Keywords are looked for outside string literals and comments (``IF TG_OP = 'UPDATE'`` writes nothing); SQL run
    from a string is dynamic SQL, which makes the body unanalysable before this is asked.
    """
    body = _code(body, dialect)
    if not _WRITE_SQL.search(body):
        return frozenset(), False
    if mentioned is None:  # plain SQL sqlglot parsed: its writing statements tell
        try:
            from litestar_alchemy_kit.orm._sqlparse import statement_writes  # noqa: PLC0415 - optional extra
        except ImportError:  # pragma: no cover - _parsed() returned None then
            return frozenset(), True
        found = statement_writes(body, dialect)
        if found is None or isinstance(found, bool):
            return frozenset(), bool(found)
        return frozenset(((schema.lower() if schema else None), name.lower()) for schema, name in found), False
    targets = {_target(match) for match in _TARGET.findall(body)}
    names = frozenset({*mentioned, *targets})
    return names, not names or _UNTOLD_WRITE_SQL.search(body) is not None


def _code(body: str, dialect: str) -> str:
    """``body`` without string literals and comments (tokenized by sqlglot), or as it is when it cannot be."""
    try:
        from litestar_alchemy_kit.orm._sqlparse import code_words  # noqa: PLC0415 - optional extra
    except ImportError:
        return body
    words = code_words(body, dialect)
    return body if words is None else words


def _target(found: str) -> tuple[str | None, str]:
    schema, _, name = re.sub(r"[\s\"`]", "", found).lower().rpartition(".")
    return schema or None, name


def _parsed(body: str, dialect: str) -> frozenset[tuple[str | None, str]] | None:
    try:
        from litestar_alchemy_kit.orm._sqlparse import body_tables  # noqa: PLC0415 - optional extra
    except ImportError:
        return None
    names = body_tables(body, dialect)
    if names is None:
        return None
    return frozenset(((schema.lower() if schema else None), name.lower()) for schema, name in names)
