"""Cached rows into a session, as a query without ``populate_existing`` would return them, with no SQL.

A decoded entry holds fresh detached instances that carry their identity key (see
:mod:`~litestar_alchemy_kit.orm.codec`). For each one:

- if the session's identity map already holds that identity, the session's instance is returned, as
  a query returns it: its loaded attributes are left as they are, and only those it has not loaded
  (expired after a commit, deferred) are filled from the entry as committed values;
- otherwise the decoded instance itself becomes persistent in the session (what ``Session.add`` does
  for a detached instance, without its cascade: no SQL, no history, so a later flush writes only what
  the caller changes).

Related instances of eagerly loaded relationships are attached by the same rule first, so a
relationship never points at a second copy of a row the session already holds.

A read with ``populate_existing`` (``refresh=True``), or of a mapper with ``always_refresh``, is a
query that overwrites what the session holds: the session's instance is expired, then filled from
the entry.

``session.merge(obj, load=False)`` gives the same instances but copies every attribute into a new
instance through each property's ``merge``; attaching the decoded instance is several times cheaper.
The caller guarantees the session has no uncommitted change to the tables the rows come from (the
read would not be served from the cache otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy.orm.attributes import instance_state, set_committed_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import RelationshipProperty, Session
    from sqlalchemy.orm.identity import IdentityMap
    from sqlalchemy.orm.instrumentation import ClassManager
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.util import ReadOnlyProperties

__all__ = ("attach_rows", "populates_existing")

_ClassPlan = tuple["ReadOnlyProperties[RelationshipProperty[Any]]", bool, bool]


def attach_rows(session: Session, rows: list[tuple[Any, ...]], *, refresh: bool = False) -> list[tuple[Any, ...]]:
    """``rows`` (of decoded instances and scalars) with each instance attached to ``session``.

    ``refresh``: the read populates existing instances (``populate_existing``): the session's
    instances take the entry's values instead of keeping theirs.
    """
    attacher = _Attacher(session, refresh)
    flat = attacher.flat(rows)
    if flat is not None:
        return flat
    value = attacher.value
    return [tuple([value(cell) for cell in row]) for row in rows]


class _Attacher:
    """Attaches the instances of one result (``seen``: identity key -> the instance returned for it).

    ``seen`` keeps instances of classes with relationships, and of refreshed reads, only: an instance
    of any other class is attached before anything else looks its identity up, so the identity map
    answers for it (a second row of the same identity gets the instance the first one attached, with
    nothing left to fill).
    """

    __slots__ = ("announce", "hash_key", "identity_map", "mappers", "refresh", "seen", "session")

    def __init__(self, session: Session, refresh: bool) -> None:
        self.session = session
        self.identity_map: IdentityMap = session.identity_map
        self.hash_key = session.hash_key
        self.seen: dict[Any, object] = {}
        self.refresh = refresh
        # per class: its relationships, whether the session's instances are refreshed, its load event
        self.mappers: dict[ClassManager[Any], _ClassPlan] = {}
        # Session events add() fires for a detached instance, looked up once per result: most sessions have no
        # listener, and an empty event call per row costs more than the attach itself.
        dispatch = session.dispatch
        self.announce = bool(dispatch.before_attach or dispatch.after_attach or dispatch.detached_to_persistent)

    def flat(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]] | None:
        """The rows attached in one loop, or ``None`` (attach them cell by cell).

        For rows of one instance each, all of one class with no relationships, whose instances no
        listener hears of and are not refreshed (most lists): each is the identity map's instance or
        becomes one, as :meth:`state` decides for it.
        """
        first: object = rows[0][0] if rows and len(rows[0]) == 1 and not self.announce else None
        if first is None:
            return None
        try:
            manager = instance_state(first).manager
        except AttributeError:  # a scalar
            return None
        cls = type(first)
        relationships, refresh, load = self.mappers.get(manager) or self.mapper(manager)
        if relationships or refresh or load or not all(len(row) == 1 and type(row[0]) is cls for row in rows):
            return None
        get, add, hash_key = self.identity_map.get, self.identity_map._add_unpresent, self.hash_key  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        out: list[tuple[Any, ...]] = []
        for row in rows:
            state: InstanceState[Any] = instance_state(row[0])
            key = state.key
            if key is None:
                return _no_identity(row[0])
            existing = get(key)
            if existing is None:  # as adopt(): written as SQLAlchemy's loader writes a loaded row
                state.session_id = hash_key
                add(state, key)
                out.append(row)
            else:
                self.fill_unloaded(existing, state.dict, relationships)
                out.append((existing,))
        return out

    def value(self, value: object) -> object:
        """An instance attached; a scalar (or ``None``) as it is."""
        try:
            state: InstanceState[Any] = instance_state(value)
        except AttributeError:  # not a mapped instance
            return value
        return self.state(value, state)

    def instance(self, obj: object) -> object:
        return self.state(obj, instance_state(obj))

    def state(self, obj: object, state: InstanceState[Any]) -> object:
        key = state.key
        if key is None:
            return _no_identity(obj)
        manager = state.manager
        relationships, refresh, load = self.mappers.get(manager) or self.mapper(manager)
        tracked = refresh or bool(relationships)
        seen = self.seen
        if tracked:
            done = seen.get(key)
            if done is not None:
                return done
        existing = self.identity_map.get(key)
        if tracked:  # before its relationships are attached: a cycle leads back to it
            seen[key] = obj if existing is None else existing
        if existing is not None:
            if refresh:
                # as the query populating existing instances: nothing the session loaded is kept (the session
                # has no uncommitted change to these rows, or the read would not be served from the cache)
                held: InstanceState[Any] = instance_state(existing)
                held._expire(held.dict, self.identity_map._modified)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
            self.fill_unloaded(existing, state.dict, relationships)
            return existing
        return self.adopt(obj, state, key, relationships, load=load)

    def adopt(
        self,
        obj: object,
        state: InstanceState[Any],
        key: Any,
        relationships: ReadOnlyProperties[RelationshipProperty[Any]],
        *,
        load: bool,
    ) -> object:
        """The decoded instance made persistent in the session (its identity ``key`` is not in the identity map)."""
        if relationships:
            data = state.dict
            for name in relationships.keys():  # noqa: SIM118 - ReadOnlyProperties has no __iter__ of keys
                if name in data:
                    self.related(obj, name, data[name])
        # What add() does for a fresh detached instance, without its save-update cascade and without
        # beginning a transaction. Every instance of a loaded relationship is attached here by the same rule;
        # add()'s cascade would walk the entry's graph before it is rewired (a cycle leads back to the
        # entry's own copy of a row the session holds, which add() refuses). A hit runs no SQL, and a get(pk)
        # request pays for a transaction it never uses otherwise (a change to the instance begins one).
        if self.announce:
            session = self.session
            session.dispatch.before_attach(session, state)
            self.identity_map.add(state)
            session._after_attach(state, obj)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        else:
            # what add() and _after_attach() leave for a clean detached instance whose identity the map does
            # not hold (looked up above), written as SQLAlchemy's loader writes a loaded row
            state.session_id = self.hash_key
            self.identity_map._add_unpresent(state, key)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        if load:
            state.manager.dispatch.load(state, None)  # as a loaded (or merged) instance: Mutable types track it
        return obj

    def mapper(self, manager: ClassManager[Any]) -> _ClassPlan:
        """The class's relationships, whether the session's instances of it are refreshed, whether it has load listeners."""
        mapper = manager.mapper
        found = self.mappers[manager] = (
            mapper.relationships,
            self.refresh or mapper.always_refresh,
            bool(manager.dispatch.load),
        )
        return found

    def related(self, owner: object, name: str, related: Any) -> None:
        """Point ``owner.name`` at attached instances, the session's own ones where it holds them."""
        if related is None:
            return
        if isinstance(related, list):
            items: list[Any] = related  # pyright: ignore[reportUnknownVariableType]
            replaced = [self.instance(item) for item in items]
            if any(new is not old for new, old in zip(replaced, items, strict=True)):
                set_committed_value(owner, name, replaced)
        else:
            replaced_one = self.instance(related)
            if replaced_one is not related:
                set_committed_value(owner, name, replaced_one)

    def fill_unloaded(
        self, existing: object, cached: dict[str, Any], relationships: ReadOnlyProperties[RelationshipProperty[Any]]
    ) -> None:
        """Give the session's instance the cached values of attributes it has not loaded, as committed values."""
        state: InstanceState[Any] = instance_state(existing)
        data = state.dict
        missing = [name for name in cached if name not in data]
        if not missing:
            return
        for name in missing:
            value = cached[name]
            if name in relationships:
                if isinstance(value, list):
                    items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
                    value = [self.instance(item) for item in items]
                elif value is not None:
                    value = self.instance(value)
            set_committed_value(existing, name, value)
        # what merge(load=False) announces for an instance it updates: Mutable types re-track the new values
        state.manager.dispatch._sa_event_merge_wo_load(state, None)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001


def _no_identity(obj: object) -> NoReturn:
    # the codec gives every instance its identity; one without would be INSERTed
    msg = f"cached {type(obj).__name__} instance has no identity key"
    raise ValueError(msg)


def populates_existing(*options: Mapping[str, Any]) -> bool:
    """Whether any of these execution options asks a read to populate existing instances (``refresh`` above)."""
    return any(option.get("populate_existing") for option in options)
