"""Invariant 8 for every statement shape: a cache hit is what the same read returns uncached, field by field.

Each shape is read through ``get_many``, ``get_many_and_count`` (AA's ``list`` and ``list_and_count``),
``get_one_or_none`` and ``get_one``: once to populate, once more to hit, and once with ``use_cache=False``,
each in a session of its own. The hit and the uncached read are compared row by row: class, identity
key, every loaded attribute (related instances described the same way), the attributes left unloaded,
and how each instance relates to the session (the identity map's own, the instance the session
already held for that row, or detached with ``auto_expunge=True``). Written once (async) and
generated for sync by unasyncd.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import aliased, selectin_polymorphic, selectinload, with_polymorphic

from litestar_alchemy_kit.orm.populate import UNDECODABLE
from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository._bridge import sync_session_of
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Circle, Fleet, Machine, Shape, Truck


class MachineRepository(CachedAsyncRepository[Machine]):
    model_type = Machine


class ShapeRepository(CachedAsyncRepository[Shape]):
    model_type = Shape


class FleetRepository(CachedAsyncRepository[Fleet]):
    model_type = Fleet


METHODS = ("get_many", "get_many_and_count", "get_one_or_none", "get_one")

_joined = with_polymorphic(Machine, [Truck])
_joined_aliased = with_polymorphic(Machine, [Truck], aliased=True)
_joined_flat = with_polymorphic(Machine, [Truck], flat=True)
_single = with_polymorphic(Shape, [Circle])
_single_flat = with_polymorphic(Shape, [Circle], aliased=True, flat=True)
_alias = aliased(Machine)
_named = aliased(Machine, name="m")
_fleet = aliased(Fleet)


def _of(entity: Any, *more: Any, load: Any = None) -> tuple[Any, Any, Any]:
    """The statement of a shape ordered by (and narrowed to one row through) ``entity.name``, and its loader options."""
    return select(entity, *more).order_by(entity.name), entity.name, load


SHAPES: dict[str, tuple[type[Any], tuple[Any, Any, Any]]] = {
    "base class (subclass columns unloaded)": (MachineRepository, _of(Machine)),
    "with_polymorphic joined": (MachineRepository, _of(_joined)),
    "with_polymorphic joined aliased": (MachineRepository, _of(_joined_aliased)),
    "with_polymorphic joined flat": (MachineRepository, _of(_joined_flat)),
    "with_polymorphic single-table": (ShapeRepository, _of(_single)),
    "with_polymorphic single-table aliased flat": (ShapeRepository, _of(_single_flat)),
    "with_polymorphic where a subclass column": (
        MachineRepository,
        (select(_joined).where(_joined.Truck.payload >= 0).order_by(_joined.name), _joined.name, None),
    ),
    "aliased": (MachineRepository, _of(_alias)),
    "aliased with a name": (MachineRepository, _of(_named)),
    "two entities": (
        MachineRepository,
        (select(Machine, Fleet).join(Fleet).order_by(Machine.name), Machine.name, None),
    ),
    "with_polymorphic and an aliased entity": (
        MachineRepository,
        (
            select(_joined, _fleet).join(_fleet, _joined.fleet_id == _fleet.id).order_by(_joined.name),
            _joined.name,
            None,
        ),
    ),
    "entity and columns": (MachineRepository, _of(_joined, _joined.name, _joined.kind)),
    "selectin_polymorphic": (MachineRepository, _of(Machine, load=[selectin_polymorphic(Machine, [Truck])])),
    "selectinload of a polymorphic relationship": (FleetRepository, _of(Fleet, load=[selectinload(Fleet.machines)])),
    "selectinload of_type with_polymorphic": (
        FleetRepository,
        _of(Fleet, load=[selectinload(Fleet.machines.of_type(_joined))]),
    ),
}
ONE = {MachineRepository: "t1", ShapeRepository: "c1", FleetRepository: "f1"}
"""The row ``get_one`` and ``get_one_or_none`` ask for (and the session holds beforehand)."""


async def seed_shapes(env: Env) -> None:
    async with env.sessionmaker() as session:
        first, second = Fleet(name="f1"), Fleet(name="f2")
        session.add_all([first, second])
        await session.flush()
        session.add_all(
            [
                Machine(name="m1", fleet_id=first.id),
                Truck(name="t1", payload=5, fleet_id=first.id),
                Truck(name="t2", payload=0, fleet_id=second.id),
                Machine(name="m2"),
                Shape(name="s1"),
                Circle(name="c1", radius=3),
                Circle(name="c2"),
            ]
        )
        await session.commit()


async def _read(repo: Any, method: str, statement: Any, load: Any, *, use_cache: bool) -> Any:
    kwargs: dict[str, Any] = {"statement": statement, "use_cache": use_cache}
    if load is not None:
        kwargs["load"] = load
    try:
        return await getattr(repo, method)(**kwargs)
    except Exception as exc:
        return exc


def _instance(obj: Any, session: Any, held: dict[Any, Any], *, where_of_related: bool = True) -> Any:
    """``where_of_related``: describe how related instances relate to the session too (see :func:`described`)."""
    if obj is None:
        return None
    state = inspect(obj)
    fields: dict[str, Any] = {}
    for key, value in sorted(state.dict.items()):
        if key == "_sa_instance_state":
            continue
        if isinstance(value, list):  # a loaded collection
            fields[key] = [_related(item, session, held, where_of_related) for item in value]  # pyright: ignore[reportUnknownVariableType]
        elif hasattr(value, "_sa_instance_state"):
            fields[key] = _related(value, session, held, where_of_related)
        else:
            fields[key] = value
    sync = sync_session_of(session)
    if state.detached:
        where = "detached"
    elif state.session is sync and sync.identity_map.get(state.key) is obj:
        where = "the identity map's"
    else:
        where = "elsewhere"
    key = state.key
    assert key is not None
    identity = (key[0].__name__, key[1], key[2])
    return type(obj).__name__, identity, fields, sorted(state.unloaded), where, held.get(key) is obj


def _related(obj: Any, session: Any, held: dict[Any, Any], where: bool) -> Any:
    found = _instance(obj, session, held, where_of_related=where)
    return found if where else (*found[:4], None, found[5])


def described(value: Any, session: Any, held: dict[Any, Any], *, detached: bool = False) -> Any:
    """What a repository read returned, in terms that compare equal only for the same result.

    ``detached``: a read with ``auto_expunge=True``. AA detaches the instances it returns and leaves the
    ones they load eagerly in the session; a hit returns them all detached (left as it is, see the
    repository guide's "Results"), so where their related instances are is not compared.
    """
    if isinstance(value, Exception):
        return "raises", type(value).__name__
    rows = value[0] if isinstance(value, tuple) else value if isinstance(value, list) else [value]  # pyright: ignore[reportUnknownVariableType]
    out = [_instance(row, session, held, where_of_related=not detached) for row in rows]  # pyright: ignore[reportUnknownVariableType]
    return (out, value[1]) if isinstance(value, tuple) else out


async def _hold(session: Any, repository: type[Any]) -> dict[Any, Any]:
    """The session loads the row ``ONE`` names first (a subclass's own columns unloaded): reads must return it."""
    model = repository.model_type
    held = (await session.execute(select(model).where(model.name == ONE[repository]))).scalar_one()
    return {inspect(held).key: held}


async def _described_read(
    env: Env, cache: Any, shape: str, method: str, *, use_cache: bool, auto_expunge: bool, holds: bool
) -> Any:
    repository, (statement, name, load) = SHAPES[shape]
    if method.startswith("get_one"):
        statement = statement.where(name == ONE[repository])
    async with env.sessionmaker() as session:
        held = await _hold(session, repository) if holds else {}
        repo = repository(session=session, cache=cache, auto_expunge=auto_expunge)
        result = await _read(repo, method, statement, load, use_cache=use_cache)
        return described(result, session, held, detached=auto_expunge)


async def every_shape_hits_as_the_database_returns(env: Env) -> None:
    """Each shape and read method: the hit equals the uncached read; every shape is cached, none undecodable."""
    await seed_shapes(env)
    cache = env.make_cache()
    problems: list[Any] = []
    uncached: list[tuple[str, str]] = []
    for shape in SHAPES:
        for method in METHODS:
            for auto_expunge, holds in ((False, False), (False, True), (True, False)):
                if auto_expunge and method != "get_many":
                    continue
                options = {"auto_expunge": auto_expunge, "holds": holds}
                populated = await _described_read(env, cache, shape, method, use_cache=True, **options)
                hits = cache.stats["hit"]
                cached = await _described_read(env, cache, shape, method, use_cache=True, **options)
                if cache.stats["hit"] != hits + 1:
                    uncached.append((shape, method))
                truth = await _described_read(env, cache, shape, method, use_cache=False, **options)
                if not cached == populated == truth:
                    problems.append((shape, method, options, {"hit": cached, "miss": populated, "database": truth}))
    assert not problems, problems
    assert not cache.bypass_reasons.get(UNDECODABLE), cache.bypass_reasons
    assert not uncached, uncached
