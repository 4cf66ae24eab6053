"""Repositories built per request reuse the state AA's ``__init__`` derives, never anything per instance."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.mixins import UUIDPrimaryKey
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, selectinload

from litestar_alchemy_kit.cache import CacheLimits, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.statement import Bypass
from litestar_alchemy_kit.repository import CachedSyncRepository
from litestar_alchemy_kit.writes.template import default_select, template_key, templates


class _Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Widget(UUIDPrimaryKey, _Base):
    __tablename__ = "lak_template_widget"

    name: Mapped[str]


class WidgetRepository(CachedSyncRepository[Widget]):
    model_type = Widget


class Memo(UUIDPrimaryKey, _Base):
    __tablename__ = "lak_template_memo"

    tenant: Mapped[int] = tenant_column()
    name: Mapped[str]


class MemoRepository(CachedSyncRepository[Memo]):
    model_type = Memo


class StampedRepository(WidgetRepository):
    """Sets an attribute of its own before AA's ``__init__``: per instance, never from a template."""

    def __init__(self, *, stamp: str, **kwargs: Any) -> None:
        self.stamp = stamp
        super().__init__(**kwargs)


# What AA's service passes to the repository it builds.
SERVICE_KWARGS: dict[str, Any] = {
    "statement": None,
    "auto_refresh": True,
    "auto_commit": False,
    "order_by": None,
    "wrap_exceptions": True,
    "load": None,
    "execution_options": None,
    "uniquify": False,
    "count_with_window_function": True,
}


def _unbuilt(cls: type[WidgetRepository]) -> WidgetRepository:
    """An instance before its ``__init__``: what ``template_key`` reads the defaults through."""
    return cls.__new__(cls)


def _state(repo: object) -> dict[str, Any]:
    ignored = {"session", "_read_state"}
    return {name: value for name, value in vars(repo).items() if name not in ignored}


@pytest.fixture
def sessions(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path}/template.db")
    _Base.metadata.create_all(engine)
    yield lambda: Session(engine)
    engine.dispose()


def test_a_second_repository_is_built_from_the_template_as_the_first(sessions: Any) -> None:
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl")
    with sessions() as one, sessions() as two:
        keyed = template_key(
            _unbuilt(WidgetRepository),
            Widget,
            one.bind,
            {**SERVICE_KWARGS, "statement": default_select(Widget)},
            (cache, False, None, WidgetRepository.use_cache, WidgetRepository.cache_limits, True, True),
        )
        assert keyed is not None
        assert templates.get(keyed[0]) is None
        first = WidgetRepository(session=one, cache=cache, scope="a", **SERVICE_KWARGS)
        remembered = templates.get(keyed[0])
        assert remembered is not None, "a plain build is remembered"
        second = WidgetRepository(session=two, cache=cache, scope="b", **SERVICE_KWARGS)
        assert templates.get(keyed[0]) is remembered, "and reused"
        assert second.session is two
        assert second._read_state is not first._read_state
        assert second._default_execution_options is not first._default_execution_options
        assert (first.cache_scope, second.cache_scope) == (("a",), ("b",))
        assert second._scope_token != first._scope_token
        state_one, state_two = _state(first), _state(second)
        for name in ("_cache_scope", "_scope_token", "_default_execution_options", "_tenant"):
            state_one.pop(name, None), state_two.pop(name, None)
        assert first.tenant is second.tenant is None
        assert state_one == state_two
        # the rebuilt repository works: it reads, caches and writes
        second.add(Widget(id=uuid.UUID(int=1), name="w"), auto_commit=True)
        assert second.get(uuid.UUID(int=1)).name == "w"


def test_what_the_state_derives_from_is_the_key(sessions: Any) -> None:
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl2")
    with sessions() as session:
        plain = WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS)
        detached = WidgetRepository(session=session, cache=cache, auto_expunge=True, **SERVICE_KWARGS)
        assert (plain.auto_expunge, detached.auto_expunge) == (False, True)
        uncached = WidgetRepository(session=session, cache=cache, use_cache=False, **SERVICE_KWARGS)
        assert uncached._cache_enabled is False
        assert WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS)._cache_enabled is True
        other_cache = SyncCache(SyncMemoryBackend(), namespace="tpl3")
        assert WidgetRepository(session=session, cache=other_cache, **SERVICE_KWARGS).cache is other_cache
        loaded = WidgetRepository(session=session, cache=cache, **{**SERVICE_KWARGS, "load": [selectinload("*")]})
        assert loaded._default_loader_options != plain._default_loader_options
        ordered = WidgetRepository(session=session, cache=cache, **{**SERVICE_KWARGS, "order_by": (Widget.name, True)})
        assert ordered.order_by == (Widget.name, True)
        assert WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS).order_by is None
        # a class default changed at runtime is seen by the next build
        previous = WidgetRepository.execution_options
        WidgetRepository.execution_options = {"populate_existing": False}
        try:
            changed = WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS)
            assert changed._default_execution_options == {"populate_existing": False}
        finally:
            WidgetRepository.execution_options = previous
        assert WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS)._default_execution_options == {}


def test_attributes_a_subclass_sets_before_init_stay_its_own(sessions: Any) -> None:
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl4")
    with sessions() as session:
        first = StampedRepository(stamp="one", session=session, cache=cache, **SERVICE_KWARGS)
        second = StampedRepository(stamp="two", session=session, cache=cache, **SERVICE_KWARGS)
        assert (first.stamp, second.stamp) == ("one", "two")


def test_a_statement_of_the_callers_own_is_keyed_without_it_whatever_the_model() -> None:
    """AA's own tests build repositories of a test double model with a statement of their own: never select() it.

    A caller's statement (a tenant-filtered select built per request) is keyed as "one of its own": the key
    never holds it, so statements built per request share one template and are not kept alive by it.
    """

    class Double:
        """Not a mapped class: ``select(Double)`` would raise."""

    statement = default_select(Widget)
    bind = object()
    assert template_key(_unbuilt(WidgetRepository), Double, bind, {"statement": statement}, ()) is not None
    first = statement.where(Widget.name == "a")
    keyed = template_key(_unbuilt(WidgetRepository), Widget, bind, {"statement": first}, ())
    assert keyed is not None
    assert keyed[2] is True, "the caller's own statement"
    assert all(part is not first for part in (*keyed[0], *keyed[1]))
    again = template_key(
        _unbuilt(WidgetRepository), Widget, bind, {"statement": statement.where(Widget.name == "b")}, ()
    )
    assert again is not None
    assert again[0] == keyed[0], "one template for every statement of the caller's own"
    default = template_key(_unbuilt(WidgetRepository), Widget, bind, {"statement": statement}, ())
    assert default is not None
    assert default[2] is False
    assert default[0] != keyed[0]
    assert template_key(_unbuilt(WidgetRepository), Widget, bind, {"statement": text("select 1")}, ()) is None


def test_a_repository_restored_with_a_statement_of_its_own_reads_through_it(sessions: Any) -> None:
    """Per-request filtered statements: the second repository comes from the template, with its own statement."""
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl6")
    with sessions() as session:
        WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS).add_many(
            [Widget(id=uuid.UUID(int=61), name="a"), Widget(id=uuid.UUID(int=62), name="b")], auto_commit=True
        )
    built: list[object] = []
    for _ in range(2):  # a template and warm entries, then hits
        for name, own_id, other_id in (("a", 61, 62), ("b", 62, 61)):
            # a session per read: on SQLite only a read that opens its transaction populates
            for read in ("list", "own", "other"):
                with sessions() as session:
                    statement = default_select(Widget).where(Widget.name == name)
                    repo = WidgetRepository(session=session, cache=cache, **{**SERVICE_KWARGS, "statement": statement})
                    assert repo.statement is statement
                    built.append(repo._template)
                    if read == "list":
                        assert [widget.name for widget in repo.get_many()] == [name]
                    elif read == "own":
                        assert repo.get(uuid.UUID(int=own_id)).name == name
                    else:
                        with pytest.raises(NotFoundError):
                            repo.get(uuid.UUID(int=other_id))
    # (the template memo is process-wide and bounded: its length says nothing, the templates' identity does)
    assert built[0] is not None
    assert all(template is built[0] for template in built), "one template for both statements"
    assert cache.stats["hit"] == 6, "the second round: every read a hit of its own statement's entry"


def test_tenant_bound_repositories_share_a_template_and_keep_their_own_tenant(sessions: Any) -> None:
    """What providers build per request (``tenant=``): one template, each instance its tenant's statement, scope, analysis and stamp."""
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl7")
    with sessions() as session:
        MemoRepository(session=session, cache=cache).add_many(
            [Memo(id=uuid.UUID(int=71), tenant=1, name="a"), Memo(id=uuid.UUID(int=72), tenant=2, name="b")],
            auto_commit=True,
        )
    built: list[object] = []
    statements: dict[int, set[int]] = {1: set(), 2: set()}
    bases: dict[int, set[str]] = {1: set(), 2: set()}
    for _ in range(2):  # a template and warm entries, then hits
        for tenant, own_id, other_id in ((1, 71, 72), (2, 72, 71)):
            for read in (
                "list",
                "own",
                "other",
            ):  # a session per read: on SQLite only a read that opens its transaction populates
                with sessions() as session:
                    repo = MemoRepository(session=session, cache=cache, tenant=tenant, **SERVICE_KWARGS)
                    assert repo.tenant is not None
                    assert repo.tenant.value == tenant
                    assert repo.cache_scope == (("tenant", tenant),)
                    built.append(repo._template)
                    statements[tenant].add(id(repo.statement))
                    if read == "list":
                        assert [memo.name for memo in repo.get_many()] == ["ab"[tenant - 1]]
                    elif read == "own":
                        assert repo.get(uuid.UUID(int=own_id)).name == "ab"[tenant - 1]
                        assert repo._get_base is not None
                        assert not isinstance(repo._get_base, Bypass)
                        bases[tenant].add(repo._get_base.fingerprint)
                    else:
                        with pytest.raises(NotFoundError):
                            repo.get(uuid.UUID(int=other_id))
    assert built[0] is not None
    assert all(template is built[0] for template in built), "one template for every tenant"
    assert all(len(ids) == 1 for ids in statements.values()), "a tenant's statement is built once"
    assert statements[1] != statements[2]
    assert len(bases[1]) == len(bases[2]) == 1
    assert bases[1] != bases[2], "get(pk)'s analysis is each tenant's own, never the template's"
    assert cache.stats["hit"] == 6, "the second round: every read a hit of its own tenant's entry"
    with sessions() as session:  # a write through a repository built from the template stamps its tenant
        repo = MemoRepository(session=session, cache=cache, tenant=2, **SERVICE_KWARGS)
        assert repo._template is built[0]
        repo.add(Memo(id=uuid.UUID(int=73), tenant=1, name="c"), auto_commit=True)
    with sessions() as session:
        assert session.get(Memo, uuid.UUID(int=73)).tenant == 2


def test_the_kits_class_defaults_changed_at_runtime_are_seen(sessions: Any) -> None:
    """``use_cache`` (the class-wide switch) and ``cache_limits`` are class defaults the state derives from too."""
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl5")
    with sessions() as session:
        WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS).add(
            Widget(id=uuid.UUID(int=5), name="w"), auto_commit=True
        )
    for _ in range(2):  # a template, and a warm entry
        with sessions() as session:
            assert WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS).get(uuid.UUID(int=5)).name == "w"
    hits = cache.stats["hit"]
    WidgetRepository.use_cache = False
    try:
        with sessions() as session:
            switched_off = WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS)
            assert switched_off._cache_enabled is False
            switched_off.get(uuid.UUID(int=5))
        assert cache.stats["hit"] == hits, "the class-wide switch turns the cache off for the next build"
    finally:
        del WidgetRepository.use_cache
    limits = CacheLimits(max_rows=1)
    WidgetRepository.cache_limits = limits
    try:
        with sessions() as session:
            assert WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS)._cache_limits is limits
    finally:
        del WidgetRepository.cache_limits
    with sessions() as session:
        rebuilt = WidgetRepository(session=session, cache=cache, **SERVICE_KWARGS)
        assert (rebuilt._cache_enabled, rebuilt._cache_limits) == (True, None)


class PerTenantSchemaRepository(WidgetRepository):
    """Sets an AA default on the instance before AA's ``__init__`` reads it: a schema per tenant."""

    def __init__(self, *, schema: str | None, **kwargs: Any) -> None:
        self.execution_options = {"schema_translate_map": {None: schema}}
        super().__init__(**kwargs)


class LocalizedRepository(WidgetRepository):
    """The same with error messages."""

    def __init__(self, *, language: str, **kwargs: Any) -> None:
        self.error_messages = {"not_found": f"not found ({language})"}
        super().__init__(**kwargs)


def test_defaults_a_subclass_sets_on_the_instance_are_its_own(sessions: Any) -> None:
    """AA's ``__init__`` reads its defaults through the instance: what an instance set is what it derives from."""
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl6")
    with sessions() as session:
        one = PerTenantSchemaRepository(schema="one", session=session, cache=cache, **SERVICE_KWARGS)
        two = PerTenantSchemaRepository(schema="two", session=session, cache=cache, **SERVICE_KWARGS)
        assert one._default_execution_options == {"schema_translate_map": {None: "one"}}
        assert two._default_execution_options == {"schema_translate_map": {None: "two"}}
        english = LocalizedRepository(language="en", session=session, cache=cache, **SERVICE_KWARGS)
        french = LocalizedRepository(language="fr", session=session, cache=cache, **SERVICE_KWARGS)
        assert english.error_messages is not None
        assert french.error_messages is not None
        assert (english.error_messages.get("not_found"), french.error_messages.get("not_found")) == (
            "not found (en)",
            "not found (fr)",
        )


def test_get_by_primary_key_follows_the_schema_the_instance_set(tmp_path: Path) -> None:
    """Two tenants' repositories of one class, each routed to its schema by options it set on itself.

    ``get(pk)``'s base statement (with its execution options) is analysed once and shared: never
    across instances whose options differ, or tenant two is served tenant one's cached row.
    """
    engine = create_engine(f"sqlite:///{tmp_path}/main.db")

    @event.listens_for(engine, "connect")
    def attach(connection: Any, _: Any) -> None:
        for schema in ("one", "two"):
            connection.execute(f"ATTACH DATABASE '{tmp_path}/{schema}.db' AS {schema}")

    for schema in ("one", "two"):
        with engine.begin() as connection:
            routed = connection.execution_options(schema_translate_map={None: schema})
            _Base.metadata.create_all(routed)
            routed.execute(Widget.__table__.insert().values(id=uuid.UUID(int=7), name=f"in {schema}"))
    cache = SyncCache(SyncMemoryBackend(), namespace="tpl7")
    for schema in ("one", "one", "two", "two"):  # a miss then a hit per schema
        with Session(engine) as session:
            repository = PerTenantSchemaRepository(schema=schema, session=session, cache=cache, **SERVICE_KWARGS)
            assert repository.get(uuid.UUID(int=7)).name == f"in {schema}"
    assert cache.stats["hit"] == 2
    engine.dispose()
