"""Cached rows into a session, as a query without ``populate_existing`` would return them, with no SQL.

A decoded entry holds fresh detached instances that carry their identity key (see
:mod:`~litestar_alchemy_kit.orm.codec`). For each one:

- if the session's identity map already holds that identity, the session's instance is returned, as
  a query returns it: its loaded attributes are left as they are, and only those it has not loaded
  (expired after a commit, deferred) are filled from the entry as committed values;
- otherwise the decoded instance itself becomes persistent in the session (``Session.add`` of a
  detached instance: no SQL, no history, so a later flush writes only what the caller changes).

Related instances of eagerly loaded relationships are attached by the same rule first, so a
relationship never points at a second copy of a row the session already holds.

``session.merge(obj, load=False)`` gives the same instances but copies every attribute into a new
instance through each property's ``merge``; attaching the decoded instance is several times cheaper.
The caller guarantees the session has no uncommitted change to the tables the rows come from (the
read would not be served from the cache otherwise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm.attributes import instance_state, set_committed_value

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.identity import IdentityMap
    from sqlalchemy.orm import RelationshipProperty
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.util import ReadOnlyProperties

__all__ = ("attach_rows",)


def attach_rows(session: Session, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``rows`` (of decoded instances and scalars) with each instance attached to ``session``."""
    identity_map = session.identity_map
    seen: dict[Any, object] = {}
    attached: list[tuple[Any, ...]] = []
    for row in rows:
        attached.append(tuple(_attach_value(session, identity_map, value, seen) for value in row))
    return attached


def _attach_value(session: Session, identity_map: IdentityMap, value: object, seen: dict[Any, object]) -> object:
    """An instance attached; a scalar (or ``None``) as it is."""
    try:
        state: InstanceState[Any] = instance_state(value)
    except AttributeError:  # not a mapped instance
        return value
    return _attach_state(session, identity_map, value, state, seen)


def _attach(session: Session, identity_map: IdentityMap, obj: object, seen: dict[Any, object]) -> object:
    return _attach_state(session, identity_map, obj, instance_state(obj), seen)


def _attach_state(
    session: Session, identity_map: IdentityMap, obj: object, state: InstanceState[Any], seen: dict[Any, object]
) -> object:
    key = state.key
    if key is None:  # the codec gives every instance its identity; one without would be INSERTed
        msg = f"cached {type(obj).__name__} instance has no identity key"
        raise ValueError(msg)
    done = seen.get(key)
    if done is not None:
        return done
    existing = identity_map.get(key)
    relationships = state.mapper.relationships
    if existing is not None:
        seen[key] = existing
        _fill_unloaded(session, identity_map, existing, state.dict, relationships, seen)
        return existing
    seen[key] = obj
    if relationships:
        data = state.dict
        for name in relationships.keys():  # noqa: SIM118 - ReadOnlyProperties has no __iter__ of keys
            if name in data:
                _attach_related(session, identity_map, obj, name, data[name], seen)
        session.add(obj)
    else:
        # What add() does for a detached instance when there is nothing to cascade to, without walking
        # the (empty) cascade: a sixth of add()'s cost, paid per row of a list hit.
        session._update_impl(state)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    state.manager.dispatch.load(state, None)  # as a loaded (or merged) instance: Mutable types track it
    return obj


def _attach_related(
    session: Session, identity_map: IdentityMap, owner: object, name: str, related: Any, seen: dict[Any, object]
) -> None:
    """Point ``owner.name`` at attached instances, the session's own ones where it holds them."""
    if related is None:
        return
    if isinstance(related, list):
        items: list[Any] = related  # pyright: ignore[reportUnknownVariableType]
        replaced = [_attach(session, identity_map, item, seen) for item in items]
        if any(new is not old for new, old in zip(replaced, items, strict=True)):
            set_committed_value(owner, name, replaced)
    else:
        replaced_one = _attach(session, identity_map, related, seen)
        if replaced_one is not related:
            set_committed_value(owner, name, replaced_one)


def _fill_unloaded(
    session: Session,
    identity_map: IdentityMap,
    existing: object,
    cached: dict[str, Any],
    relationships: ReadOnlyProperties[RelationshipProperty[Any]],
    seen: dict[Any, object],
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
                value = [_attach(session, identity_map, item, seen) for item in items]
            elif value is not None:
                value = _attach(session, identity_map, value, seen)
        set_committed_value(existing, name, value)
    # what merge(load=False) announces for an instance it updates: Mutable types re-track the new values
    state.manager.dispatch._sa_event_merge_wo_load(state, None)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
