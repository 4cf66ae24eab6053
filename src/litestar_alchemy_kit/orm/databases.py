"""Which caches a database's raw writes invalidate: engines matched on a coarse key of their database.

:func:`~litestar_alchemy_kit.orm.bind_cache` registers the engines of the sessions it binds; a write
that no session of a bound cache owns (:mod:`~litestar_alchemy_kit.orm.rawdml`) invalidates every cache
registered for its database, whichever engine or URL spelling carried it.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from litestar_alchemy_kit.cache import AsyncCache, SyncCache

__all__ = ("database_key", "engine_caches", "register_engine", "unregister_engine")

_engines: dict[tuple[str, str | None], weakref.WeakSet[AsyncCache | SyncCache]] = {}


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

    Returns:
        ``(family, name)``; a ``None`` name matches every name of the family.
    """
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
    _engines.setdefault(database_key(engine), weakref.WeakSet()).add(cache)


def unregister_engine(engine: Engine, cache: AsyncCache | SyncCache) -> None:
    """Undo :func:`register_engine`: raw writes through ``engine``'s database no longer invalidate ``cache``."""
    caches = _engines.get(database_key(engine))
    if caches is not None:
        caches.discard(cache)


def engine_caches(connection: Connection) -> tuple[AsyncCache | SyncCache, ...]:
    """The caches registered for the database ``connection`` writes to (any spelling of its URL)."""
    family, name = database_key(connection.engine)
    found: set[AsyncCache | SyncCache] = set()
    for (other_family, other_name), caches in list(_engines.items()):
        if other_family == family and (other_name == name or other_name is None or name is None):
            found.update(caches)
    return tuple(found)
