"""Hidden writes, review 12: a session's own reads while a pending write reaches "*"; a view's INSTEAD OF trigger or
rule runs only when the view is written (not when a write to its tables changes it); a rule's WHERE condition and a
rule's or a DEFAULT wrapper's calls of another schema's functions. Each failed before its fix. (The review's schema
changes the test-table reset missed are in ``test_tables.py``.)"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.repository.conftest import Env
from tests.integration.repository.test_hidden_dependencies import (
    Account,
    Audit,
    Parent,
    _hit_after,
    _repo,
    _warm,
)
from tests.integration.repository.test_hidden_writes import _cleanup, _exec, _only, _reflect
from tests.integration.repository.test_hidden_writes_more import _audit_after, _raw

pytestmark = pytest.mark.parametrize("cache_store", ["memory_store"], indirect=True)


_DYNAMIC_FN = (
    "CREATE OR REPLACE FUNCTION lak_r12_dyn() RETURNS trigger AS $$ BEGIN "
    "EXECUTE format('INSERT INTO %I (id) VALUES ($1)', 'lak_hid_audit') USING 'dyn' || NEW.id; RETURN NEW; END $$ "
    "LANGUAGE plpgsql"
)
_STATIC_FN = (
    "CREATE OR REPLACE FUNCTION lak_r12_dyn() RETURNS trigger AS $$ BEGIN "
    "INSERT INTO lak_hid_audit (id) VALUES ('dyn' || NEW.id); RETURN NEW; END $$ LANGUAGE plpgsql"
)
_DROP_FN = "DROP FUNCTION IF EXISTS lak_r12_dyn() CASCADE"


# --- A. "*" in a session's pending (unflushed) tags is a literal: its own reads of other tables still hit --------


@pytest.mark.parametrize("dynamic", [False, True], ids=["control_static_trigger", "dynamic_trigger"])
def test_pending_write_reaching_star_bypasses_own_reads(hidden: Env, dynamic: bool) -> None:
    """A session holds a new Account (not flushed yet) whose insert trigger writes lak_hid_audit. Its read of the
    audit count autoflushes, so the database answers 1. With a static trigger pending_tags holds the audit tag and
    the read bypasses; with a dynamic one it holds the literal "*" (a plain set: isdisjoint is not overridden), so the
    cached 0 is served to the session that wrote the row."""
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        _DYNAMIC_FN if dynamic else _STATIC_FN,
        "CREATE TRIGGER lak_r12_t AFTER INSERT ON lak_hid_account FOR EACH ROW EXECUTE FUNCTION lak_r12_dyn()",
    )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.add(Account(id=3, name="ann"))
            seen = _repo(Audit)(session=session, cache=cache).count()  # uncached, it would autoflush first
            session.flush()
            real = session.execute(text("SELECT count(*) FROM lak_hid_audit")).scalar_one()
            session.rollback()
        assert real == 1, "setup: the trigger did not write"
        assert seen == 1, "the session's own read was served the cached 0 (its pending insert's trigger writes 1)"
    finally:
        _cleanup(engine, "DROP TRIGGER IF EXISTS lak_r12_t ON lak_hid_account", _DROP_FN)


# --- B. a view's own write calls are followed when the view is merely changed by a write to its base ------------


_VIEW_TRIGGER = "CREATE TRIGGER lak_r12_vt INSTEAD OF UPDATE ON {view} FOR EACH ROW EXECUTE FUNCTION lak_r12_dyn()"


@pytest.mark.parametrize(
    ("view", "trigger"),
    [
        pytest.param("plain", False, id="control_no_trigger"),
        pytest.param("plain", True, id="instead_of_trigger_on_view"),
        pytest.param("unparsed", True, id="instead_of_trigger_on_unanalysed_view"),
    ],
)
def test_write_to_base_of_view_with_untold_instead_of_trigger(hidden: Env, view: str, trigger: bool) -> None:
    """lak_r12_v has an INSTEAD OF UPDATE trigger running dynamic SQL: it runs only on writes *to the view*. A plain
    ORM insert into lak_hid_account (its base) changes the view; graph_edges' view -> "*" edge is followed anyway, so
    the insert clears the whole namespace and lak_hid_parent's cached count (untouched) is a miss. With a view whose
    definition cannot be analysed ("*" -> view), a write to *any* table clears the namespace."""
    engine = _only(hidden, "postgresql")
    where = "name IS NOT NULL" if view == "plain" else "XMLSERIALIZE(CONTENT XMLELEMENT(NAME x, name) AS text) <> ''"
    _exec(engine, _DYNAMIC_FN, f"CREATE VIEW lak_r12_v AS SELECT id, name FROM lak_hid_account WHERE {where}")
    if trigger:
        _exec(engine, _VIEW_TRIGGER.format(view="lak_r12_v"))
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Parent, "count") == 0
        with hidden.bound(cache)() as session:
            if view == "plain":
                session.add(Account(id=3, name="ann"))
            else:
                session.execute(text("INSERT INTO lak_hid_audit (id) VALUES ('x')"))  # any table at all
            session.commit()
        assert _hit_after(hidden, cache, Parent, "count", 0), (
            "a write not touching the view cleared the whole namespace (the view's INSTEAD OF trigger never ran)"
        )
    finally:
        _cleanup(engine, "DROP VIEW IF EXISTS lak_r12_v", _DROP_FN)


# --- C. a rule on a view writing back to its base: every write to the base bumps the base's coarse tag ----------


@pytest.mark.parametrize("rule", [False, True], ids=["control_no_rule", "update_rule_on_view"])
def test_rule_on_view_costs_base_table_row_tags(hidden: Env, rule: bool) -> None:
    """The classic rule-updatable view: ON UPDATE TO the view DO INSTEAD UPDATE its base. A write to the base changes
    the view, whose rule "writes" the base: the base's own tag is in changed_tags(base), so every flush to
    lak_hid_account bumps its coarse tag and a cached get() of another row is lost (fine tags defeated)."""
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "INSERT INTO lak_hid_account (id, name, active) VALUES (1, 'ann', true), (2, 'bob', true)",
        "CREATE VIEW lak_r12_rv AS SELECT id, name FROM lak_hid_account WHERE id > 0",
    )
    if rule:
        _exec(
            engine,
            "CREATE RULE lak_r12_rule AS ON UPDATE TO lak_r12_rv DO INSTEAD "
            "UPDATE lak_hid_account SET name = new.name WHERE id = old.id",
        )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        with hidden.sessionmaker() as session:
            repo = _repo(Account)(session=session, cache=cache)
            assert repo.get(1).name == "ann"
            hits = cache.stats["hit"]
            assert repo.get(1).name == "ann"
            assert cache.stats["hit"] == hits + 1
        with hidden.bound(cache)() as session:
            session.get_one(Account, 2).name = "bo"
            session.commit()
        hits = cache.stats["hit"]
        with hidden.sessionmaker() as session:
            assert _repo(Account)(session=session, cache=cache).get(1).name == "ann"
        assert cache.stats["hit"] == hits + 1, "an update of row 2 invalidated get(1)"
    finally:
        _cleanup(engine, "DROP VIEW IF EXISTS lak_r12_rv CASCADE")


# --- D. a rule's WHERE runs with its actions: a writing function there is dropped with everything before DO ------

_WRITING_PREDICATE = (
    "CREATE OR REPLACE FUNCTION lak_r12_w(t TEXT) RETURNS BOOLEAN AS $$ BEGIN "
    "INSERT INTO lak_hid_audit (id) VALUES (t); RETURN true; END $$ LANGUAGE plpgsql"
)


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("DO ALSO SELECT lak_r12_w(new.name)", id="control_call_in_action"),
        pytest.param("WHERE lak_r12_w(new.name) DO ALSO INSERT INTO lak_hid_parent (id) VALUES (new.id)", id="where"),
        pytest.param("WHERE NOT lak_r12_w(new.name) DO INSTEAD NOTHING", id="where_instead_nothing"),
    ],
)
def test_rule_condition_calling_writing_function(hidden: Env, rule: str) -> None:
    """_rule_actions keeps only what follows DO: a function called in the rule's WHERE (evaluated with its actions,
    and, for DO INSTEAD, as NOT(condition) on the original statement) writes lak_hid_audit unseen."""
    engine = _only(hidden, "postgresql")
    _exec(engine, _WRITING_PREDICATE, f"CREATE RULE lak_r12_rule AS ON INSERT TO lak_hid_account {rule}")
    try:
        _reflect(engine)
        _audit_after(hidden, _raw("INSERT INTO lak_hid_account (id, name, active) VALUES (3, 'ann', true)"))
    finally:
        _cleanup(
            engine,
            "DROP RULE IF EXISTS lak_r12_rule ON lak_hid_account",
            "DROP FUNCTION IF EXISTS lak_r12_w(TEXT)",
            "DELETE FROM lak_hid_parent",
        )


# --- E. a rule calling a writing function of another schema (051f1e5 did DEFAULTs only) -----------------------


@pytest.mark.parametrize(
    "schema",
    [pytest.param("public", id="control_same_schema"), pytest.param("lak_r12_u", id="other_schema")],
)
def test_rule_calling_function_of_another_schema(hidden: Env, schema: str) -> None:
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE OR REPLACE FUNCTION {schema}.lak_r12_x(t TEXT) RETURNS TEXT AS $$ BEGIN "
        "INSERT INTO public.lak_hid_audit (id) VALUES (t); RETURN t; END $$ LANGUAGE plpgsql",
        f"CREATE RULE lak_r12_rule AS ON INSERT TO lak_hid_account DO ALSO SELECT {schema}.lak_r12_x(new.name)",
    )
    try:
        _reflect(engine)
        _audit_after(hidden, _raw("INSERT INTO lak_hid_account (id, name, active) VALUES (3, 'ann', true)"))
    finally:
        _cleanup(
            engine,
            "DROP RULE IF EXISTS lak_r12_rule ON lak_hid_account",
            f"DROP FUNCTION IF EXISTS {schema}.lak_r12_x(TEXT)",
            "DROP SCHEMA IF EXISTS lak_r12_u CASCADE",
        )


@pytest.mark.parametrize(
    "schema",
    [pytest.param("public", id="control_same_schema"), pytest.param("lak_r12_u", id="other_schema")],
)
def test_default_calling_public_wrapper_of_other_schema_writer(hidden: Env, schema: str) -> None:
    """DEFAULT public.lak_r12_wrap() (same schema: _PG_DEFAULT_SCHEMAS finds nothing) calls lak_r12_u.lak_r12_x(),
    which writes: that schema is never reflected (only a trigger's or a DEFAULT's direct callee's is)."""
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE OR REPLACE FUNCTION {schema}.lak_r12_x(t TEXT) RETURNS TEXT AS $$ BEGIN "
        "INSERT INTO public.lak_hid_audit (id) VALUES (t); RETURN t; END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION public.lak_r12_wrap() RETURNS TEXT AS $$ BEGIN "
        f"RETURN {schema}.lak_r12_x('d'); END $$ LANGUAGE plpgsql",
        "ALTER TABLE lak_hid_account ADD COLUMN code TEXT DEFAULT public.lak_r12_wrap()",
    )
    try:
        _reflect(engine)
        _audit_after(hidden, lambda session: session.add(Account(id=3, name="ann")))
    finally:
        _cleanup(
            engine,
            "ALTER TABLE lak_hid_account DROP COLUMN IF EXISTS code",
            "DROP FUNCTION IF EXISTS public.lak_r12_wrap()",
            f"DROP FUNCTION IF EXISTS {schema}.lak_r12_x(TEXT)",
            "DROP SCHEMA IF EXISTS lak_r12_u CASCADE",
        )
