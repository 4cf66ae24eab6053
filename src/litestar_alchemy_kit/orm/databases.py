"""Which caches a database's raw writes invalidate: engines matched on a coarse key of their database.

:func:`~litestar_alchemy_kit.orm.bind_cache` registers the engines of the sessions it binds; a write
that no session of a bound cache owns (:mod:`~litestar_alchemy_kit.orm.rawdml`) invalidates every cache
registered for its database, whichever engine or URL spelling carried it, and of every other database it
may change (:mod:`~litestar_alchemy_kit.orm.routing`: MySQL's qualified names, ``USE``, SQLite's ``ATTACH``).
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Connection, Engine

    from litestar_alchemy_kit.cache import AsyncCache, SyncCache

__all__ = (
    "database_key",
    "engine_caches",
    "forget_routes",
    "register_engine",
    "route",
    "switched",
    "unregister_engine",
)

_engines: dict[tuple[str, str | None], weakref.WeakSet[AsyncCache | SyncCache]] = {}
# The databases each connection's transaction wrote besides its own (orm.routing): None for any of its family
_routes: weakref.WeakKeyDictionary[Connection, set[str | None]] = weakref.WeakKeyDictionary()
_SWITCHED: Final = "litestar_alchemy_kit.databases.switched"  # in Connection.info: kept with the DBAPI connection
_switches: list[bool] = []  # whether any connection switched (the commit path skips Connection.info otherwise)


def database_key(engine: Engine) -> tuple[str, str | None]:
    """Which database an engine's raw writes change, as coarse as sharing invalidation needs.

    Two engines that may reach the same database must share a key (a miss is a stale read), while two
    that share one by mistake only cost extra invalidations. Hosts and ports prove nothing (``localhost``,
    ``127.0.0.1``, a socket, a DNS alias, a default port spelled or not, a pooler on another port), so
    they are left out:

    - SQLite and DuckDB: the file's resolved absolute path (``file:`` URIs too); every in-memory
      database shares one key;
    - any other backend (PostgreSQL, MySQL / MariaDB...): the database name, or any database of the
      backend when the URL names none (libpq then takes it from the environment or a service file).

    A key as coarse as the whole server would hand one database's commits to the caches of every other
    database on it, or on another server: their markers, strict refusals and outbox rows do not belong there.

    Resolved once per engine (an engine's URL never changes; a file path costs system calls).

    Returns:
        ``(family, name)``; a ``None`` name matches every name of the family.
    """
    key = _keys.get(engine)
    if key is None:
        key = _keys[engine] = _resolve(engine)
    return key


_keys: weakref.WeakKeyDictionary[Engine, tuple[str, str | None]] = weakref.WeakKeyDictionary()


def _resolve(engine: Engine) -> tuple[str, str | None]:
    url = engine.url
    family = _FAMILIES.get(url.get_backend_name(), url.get_backend_name())
    if family in {"sqlite", "duckdb"}:
        if url.database in {None, "", ":memory:"} or url.query.get("mode") == "memory":
            return family, ":memory:"
        return family, _file_path(url.database or "")
    return family, url.database or None


_FAMILIES: Final = {"mariadb": "mysql"}


def _file_path(database: str) -> str:
    if database.startswith("file:"):  # a URI filename (uri=true): its own query may follow
        database, _, query = database.removeprefix("file:").partition("?")
        if "mode=memory" in query or database in {"", ":memory:"}:
            return ":memory:"
        # a URI's path is percent-encoded ("my%20db.sqlite" names the file "my db.sqlite")
        database = unquote(database.removeprefix("//localhost").removeprefix("//"))
    return os.path.realpath(database)


def register_engine(engine: Engine, cache: AsyncCache | SyncCache) -> None:
    """Make raw writes through any engine on ``engine``'s database invalidate ``cache``.

    :func:`~litestar_alchemy_kit.orm.bind_cache` calls it for the engines of the sessions it binds.

    Args:
        engine: a sync ``Engine`` (``AsyncEngine.sync_engine`` for async ones).
        cache: the cache to invalidate.
    """
    key = database_key(engine)
    caches = _engines.get(key)
    if caches is None:
        caches = _engines[key] = weakref.WeakSet()
    caches.add(cache)


def unregister_engine(engine: Engine, cache: AsyncCache | SyncCache) -> None:
    """Undo :func:`register_engine`: raw writes through ``engine``'s database no longer invalidate ``cache``."""
    caches = _engines.get(database_key(engine))
    if caches is not None:
        caches.discard(cache)


def route(connection: Connection, databases: Iterable[str | None]) -> None:
    """Make the commit of ``connection``'s transaction invalidate the caches of ``databases`` too.

    Args:
        connection: the writing connection.
        databases: names of its backend's databases (case-folded), ``None`` for every one.
    """
    _routes.setdefault(connection, set()).update(databases)


def forget_routes(connection: Connection) -> None:
    """A new transaction begins on ``connection``: the last one's routes are delivered or rolled back."""
    if _routes:
        _routes.pop(connection, None)


def switched(connection: Connection) -> None:
    """``connection``'s unqualified names may go to any database of its backend (``USE``, ``ATTACH``), until it closes."""
    connection.info[_SWITCHED] = True
    if not _switches:
        _switches.append(True)


def engine_caches(connection: Connection) -> tuple[AsyncCache | SyncCache, ...]:
    """The caches of every database ``connection``'s writes may change (invariant 1 for raw writes).

    Its own (any spelling of its URL), those its transaction's writes were routed to (:func:`route`), and
    every database of its backend once its unqualified names may go elsewhere (:func:`switched`).
    """
    family, name = database_key(connection.engine)
    routes = _routes.get(connection) if _routes else None
    # an invalidated connection cannot tell what it switched to (its info is gone with it): any database
    if (routes is not None and None in routes) or (
        _switches and (connection.invalidated or connection.info.get(_SWITCHED))
    ):
        name = None
    found: set[AsyncCache | SyncCache] = set()
    for (other_family, other_name), caches in list(_engines.items()):
        if other_family == family and (
            other_name == name
            or other_name is None
            or name is None
            or (routes is not None and other_name.casefold() in routes)
        ):
            found.update(caches)
    return tuple(found)
