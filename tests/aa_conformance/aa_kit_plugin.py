"""pytest plugin: Advanced Alchemy's own tests, with the kit's classes in place of AA's (``nox -s aa_conformance``).

Loaded with ``-p aa_kit_plugin`` by ``tests/aa_conformance/run.py`` inside AA's unpacked sdist. It

* rebinds AA's public repository, slug repository and service classes to the kit's (at import,
  before AA's conftests import their fixtures), so every repository and service AA's tests build
  is the kit's;
* binds a cache to every session (an ``AsyncCache`` to every ``AsyncSession``, a ``SyncCache`` to
  every other ``Session``), each on an in-process store;
* points AA's pytest-databases fixtures at this machine's PostgreSQL and MariaDB (or
  ``LAK_POSTGRES_URL`` / ``LAK_MYSQL_URL``) instead of Docker containers;
* with ``LAK_AA_MODE=read_twice``: commits the seed rows of AA's repository fixtures (AA's own
  fixtures keep them in a transaction that is rolled back, where nothing may populate a cache),
  runs every cached read of a kit repository twice, through the cache and from the database, and
  records every difference; hits are counted per cache (async and sync);
* with ``LAK_AA_MODE=baseline``: only the local servers (AA's own run, to tell failures of this
  environment from the kit's);
* writes a JSON report (``LAK_AA_REPORT``): outcomes per test, hits, differences.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import json
import os
import sys
import uuid
from collections.abc import AsyncGenerator, Generator
from typing import Any
from unittest.mock import NonCallableMock

import pytest
from advanced_alchemy.repository import (
    SQLAlchemyAsyncRepository,
    SQLAlchemyAsyncSlugRepository,
    SQLAlchemySyncRepository,
    SQLAlchemySyncSlugRepository,
)
from advanced_alchemy.repository.typing import ModelT
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService, SQLAlchemySyncRepositoryService
from litestar.stores.memory import MemoryStore
from sqlalchemy import delete
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from litestar_alchemy_kit.cache import AsyncCache, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository, bind_cache
from litestar_alchemy_kit.service import CachedAsyncRepositoryService, CachedSyncRepositoryService

MODE = os.environ.get("LAK_AA_MODE", "substitute")
READ_TWICE = MODE == "read_twice"
BASELINE = MODE == "baseline"  # AA's own classes: tells a failure of this environment from the kit's
REPORT = os.environ.get("LAK_AA_REPORT")

# --- 1. the kit's classes in place of AA's ----------------------------------------------------------


class KitAsyncSlugRepository(CachedAsyncRepository[ModelT], SQLAlchemyAsyncSlugRepository[ModelT]):
    """AA's async slug repository on the kit's cached repository."""


class KitSyncSlugRepository(CachedSyncRepository[ModelT], SQLAlchemySyncSlugRepository[ModelT]):
    """AA's sync slug repository on the kit's cached repository."""


SUBSTITUTES: dict[int, tuple[type, type]] = {
    id(original): (original, kit)
    for original, kit in (
        (SQLAlchemyAsyncRepository, CachedAsyncRepository),
        (SQLAlchemySyncRepository, CachedSyncRepository),
        (SQLAlchemyAsyncSlugRepository, KitAsyncSlugRepository),
        (SQLAlchemySyncSlugRepository, KitSyncSlugRepository),
        (SQLAlchemyAsyncRepositoryService, CachedAsyncRepositoryService),
        (SQLAlchemySyncRepositoryService, CachedSyncRepositoryService),
    )
}
# Where the classes are defined keeps them: AA's own code there (and the kit's bases) must see AA's.
DEFINING_MODULES = frozenset(
    {
        "advanced_alchemy.repository._async",
        "advanced_alchemy.repository._sync",
        "advanced_alchemy.service._async",
        "advanced_alchemy.service._sync",
    }
)


def substitute() -> int:
    """Rebind every already-imported AA module attribute that is one of AA's classes to the kit's."""
    count = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("advanced_alchemy") or name in DEFINING_MODULES or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            found = SUBSTITUTES.get(id(value))
            if found is not None and found[0] is value:
                setattr(module, attribute, found[1])
                count += 1
    return count


if not BASELINE:
    substitute()

# --- 2. a cache bound to every session --------------------------------------------------------------


@dataclasses.dataclass
class Counts:
    """Hits and reads compared, per flavour."""

    hits: dict[str, int] = dataclasses.field(default_factory=lambda: {"async": 0, "sync": 0})
    compared: dict[str, int] = dataclasses.field(default_factory=lambda: {"async": 0, "sync": 0})
    differences: list[dict[str, str]] = dataclasses.field(default_factory=list)


COUNTS = Counts()
SYNC_CACHE = SyncCache(SyncMemoryBackend(), namespace="aa-conformance-sync")
_async_caches: dict[int, AsyncCache] = {}
_inside_async_session = contextvars.ContextVar("inside_async_session", default=False)


def _async_cache() -> AsyncCache:
    """One async cache per event loop (AA's tests run loops per test and per session)."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    key = id(loop)
    cache = _async_caches.get(key)
    if cache is None:
        cache = _async_caches[key] = AsyncCache(MemoryStore(), namespace="aa-conformance")
    return cache


_original_async_init = AsyncSession.__init__
_original_sync_init = Session.__init__


@functools.wraps(_original_async_init)
def _async_session_init(self: AsyncSession, *args: Any, **kwargs: Any) -> None:
    token = _inside_async_session.set(True)
    try:
        _original_async_init(self, *args, **kwargs)
    finally:
        _inside_async_session.reset(token)
    if not isinstance(self.sync_session.bind, NonCallableMock):
        bind_cache(self, _async_cache())


@functools.wraps(_original_sync_init)
def _sync_session_init(self: Session, *args: Any, **kwargs: Any) -> None:
    _original_sync_init(self, *args, **kwargs)
    # An AsyncSession's own Session gets the async cache; AA's mock engines have nothing to invalidate.
    if not _inside_async_session.get() and not isinstance(self.bind, NonCallableMock):
        bind_cache(self, SYNC_CACHE)


if not BASELINE:
    AsyncSession.__init__ = _async_session_init  # type: ignore[method-assign]
    Session.__init__ = _sync_session_init  # type: ignore[method-assign]

# --- 3. this machine's database servers instead of Docker ---------------------------------------------


def _local_services() -> None:
    import pytest_databases._service as service_module
    import pytest_databases.docker.mysql as mysql_module
    import pytest_databases.docker.postgres as postgres_module

    postgres = make_url(os.environ.get("LAK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    mysql = make_url(os.environ.get("LAK_MYSQL_URL", "mysql://root:@127.0.0.1:3306/mysql"))

    class _NoDocker:
        def close(self) -> None:
            return None

    @contextlib.contextmanager
    def postgres_service(*_args: Any, **_kwargs: Any) -> Generator[Any, None, None]:
        database = _ensure_database_postgres(postgres)
        yield postgres_module.PostgresService(
            host=postgres.host or "127.0.0.1",
            port=postgres.port or 5432,
            container=None,  # type: ignore[arg-type]
            database=database,
            user=postgres.username or "postgres",
            password=postgres.password or "",
        )

    @contextlib.contextmanager
    def mysql_service(*_args: Any, **_kwargs: Any) -> Generator[Any, None, None]:
        database = _ensure_database_mysql(mysql)
        yield mysql_module.MySQLService(
            host=mysql.host or "127.0.0.1",
            port=mysql.port or 3306,
            container=None,  # type: ignore[arg-type]
            db=database,
            user=mysql.username or "root",
            password=mysql.password or "",
        )

    service_module.get_docker_client = _NoDocker  # type: ignore[assignment]
    service_module.DockerService.__enter__ = lambda self: self  # type: ignore[method-assign]
    service_module.DockerService.__exit__ = lambda self, *exc: None  # type: ignore[method-assign,assignment]
    postgres_module._provide_postgres_service = postgres_service  # type: ignore[assignment]
    mysql_module._provide_mysql_service = mysql_service  # type: ignore[assignment]


DATABASE = os.environ.get("LAK_AA_DATABASE", "lak_aa_conformance")


def _ensure_database_postgres(url: Any) -> str:
    import psycopg

    admin = url.set(drivername="postgresql", database=url.database or "postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    return DATABASE


def _ensure_database_mysql(url: Any) -> str:
    import pymysql

    connection = pymysql.connect(
        host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root", password=url.password or ""
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
            cursor.execute(f"CREATE DATABASE `{DATABASE}`")
        connection.commit()
    finally:
        connection.close()
    return DATABASE


_local_services()

# --- 4. read twice: every cached read compared with the database's answer --------------------------


def _plain(value: Any, depth: int = 0, *, tzinfo: bool = True) -> Any:
    """A comparable rendering of a read's result: instances by their loaded column values.

    ``tzinfo=False`` leaves out the type of an aware datetime's tzinfo (same instant, offset and wall clock).
    """
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth, tzinfo=tzinfo) for item in value]
    if isinstance(value, (str, int, float, bool, type(None), bytes, decimal.Decimal, uuid.UUID, enum.Enum)):
        return value
    if isinstance(value, datetime.datetime):
        kind = type(value.tzinfo).__name__ if value.tzinfo and tzinfo else None
        return (value.isoformat(), value.utcoffset(), kind)
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
        return value
    try:
        state = sa_inspect(value)
    except Exception:
        return repr(value)
    mapper = state.mapper
    loaded = {attr.key for attr in mapper.column_attrs} - state.unloaded
    columns = {key: _plain(getattr(value, key), depth, tzinfo=tzinfo) for key in sorted(loaded)}
    if depth < 1:
        for relationship in mapper.relationships:
            if relationship.key not in state.unloaded:
                columns[relationship.key] = _plain(getattr(value, relationship.key), depth + 1, tzinfo=tzinfo)
    return (type(value).__name__, columns)


_READS = ("get", "get_one", "get_one_or_none", "get_many", "get_many_and_count", "count", "exists")
_comparing = contextvars.ContextVar("comparing", default=False)


def _both(value: Any) -> tuple[Any, Any]:
    return _plain(value), _plain(value, tzinfo=False)


def _record(flavour: str, name: str, cached: tuple[Any, Any], fresh: tuple[Any, Any]) -> None:
    """Compare two pairs of renderings (:func:`_both`, taken right after each read)."""
    COUNTS.compared[flavour] += 1
    if cached[0] != fresh[0]:
        COUNTS.differences.append(
            {
                "test": os.environ.get("PYTEST_CURRENT_TEST", "?"),
                "read": f"{flavour} {name}",
                # the same but for the tzinfo objects of aware datetimes (psycopg's ZoneInfo('Etc/UTC'))
                "kind": "tzinfo" if cached[1] == fresh[1] else "data",
                "cached": repr(cached[0])[:2000],
                "database": repr(fresh[0])[:2000],
            }
        )


def _hits(cache: Any) -> int:
    return 0 if cache is None else int(cache.stats["hit"])


def _database_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same read, from the database, refreshing the session's instances (``populate_existing``).

    With AA's default ``auto_expunge=False`` a hit is merged into the session's own instances, so the
    database's answer must overwrite them to be seen; the session has no uncommitted change to the
    tables a cached read reads, or the read would not have been cached.
    """
    options = {**(kwargs.get("execution_options") or {}), "populate_existing": True}
    return {**kwargs, "use_cache": False, "execution_options": options}


def _wrap_async(name: str) -> None:
    original = getattr(CachedAsyncRepository, name)

    @functools.wraps(original)
    async def read(self: CachedAsyncRepository[Any], *args: Any, **kwargs: Any) -> Any:
        if _comparing.get() or kwargs.get("use_cache") is False or self.cache is None:
            return await original(self, *args, **kwargs)
        before = _hits(self.cache)
        result = await original(self, *args, **kwargs)  # what the test gets (populates on a miss)
        token = _comparing.set(True)
        try:
            middle = _hits(self.cache)
            cached = _both(await original(self, *args, **kwargs))  # a hit once the first populated
            hit = _hits(self.cache) > middle
            COUNTS.hits["async"] += _hits(self.cache) - before
            # only a hit is compared: a miss or a bypass is a database read (the session's own state)
            fresh = _both(await original(self, *args, **_database_kwargs(kwargs))) if hit else cached
        except Exception as error:
            fresh, cached, hit = (repr(error), repr(error)), _both(result), True
        finally:
            _comparing.reset(token)
        if hit:
            _record("async", name, cached, fresh)
        return result

    setattr(CachedAsyncRepository, name, read)


def _wrap_sync(name: str) -> None:
    original = getattr(CachedSyncRepository, name)

    @functools.wraps(original)
    def read(self: CachedSyncRepository[Any], *args: Any, **kwargs: Any) -> Any:
        if _comparing.get() or kwargs.get("use_cache") is False or self.cache is None:
            return original(self, *args, **kwargs)
        before = _hits(self.cache)
        result = original(self, *args, **kwargs)  # what the test gets (populates on a miss)
        token = _comparing.set(True)
        try:
            middle = _hits(self.cache)
            cached = _both(original(self, *args, **kwargs))  # a hit once the first populated
            hit = _hits(self.cache) > middle
            COUNTS.hits["sync"] += _hits(self.cache) - before
            # only a hit is compared: a miss or a bypass is a database read (the session's own state)
            fresh = _both(original(self, *args, **_database_kwargs(kwargs))) if hit else cached
        except Exception as error:
            fresh, cached, hit = (repr(error), repr(error)), _both(result), True
        finally:
            _comparing.reset(token)
        if hit:
            _record("sync", name, cached, fresh)
        return result

    setattr(CachedSyncRepository, name, read)


def _count_hits_only(cls: type, flavour: str, name: str) -> None:
    original = getattr(cls, name)
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            before = _hits(self.cache)
            try:
                return await original(self, *args, **kwargs)
            finally:
                COUNTS.hits[flavour] += _hits(self.cache) - before

    else:

        @functools.wraps(original)
        def read(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            before = _hits(self.cache)
            try:
                return original(self, *args, **kwargs)
            finally:
                COUNTS.hits[flavour] += _hits(self.cache) - before

    setattr(cls, name, read)


for _name in () if BASELINE else _READS:
    if READ_TWICE:
        _wrap_async(_name)
        _wrap_sync(_name)
    else:
        _count_hits_only(CachedAsyncRepository, "async", _name)
        _count_hits_only(CachedSyncRepository, "sync", _name)


# Committed seeds: AA's repository fixtures bind the session to a connection whose transaction is
# rolled back after the test; such a session may read the cache but never populate it. In read-twice
# mode they get a session of their own on the engine, with committed seed rows, and clean tables after.


def _tables(models: dict[str, type]) -> list[Any]:
    return list(reversed(models["base"].metadata.sorted_tables))


async def _clean_async(session: AsyncSession, models: dict[str, type]) -> None:
    await session.rollback()
    for table in _tables(models):
        await session.execute(delete(table))
    await session.commit()


def _clean_sync(session: Session, models: dict[str, type]) -> None:
    session.rollback()
    for table in _tables(models):
        session.execute(delete(table))
    session.commit()


def _committed_async(models_fixture: str, schema_fixture: str) -> Any:
    async def fixture(
        async_engine: Any, request: pytest.FixtureRequest, **kwargs: Any
    ) -> AsyncGenerator[tuple[Any, dict[str, type]], None]:
        models = kwargs[models_fixture]
        if getattr(async_engine.dialect, "name", "") == "mock":
            from unittest.mock import create_autospec

            session_mock = create_autospec(AsyncSession, instance=True)
            session_mock.bind = async_engine
            yield session_mock, models
            return
        session = AsyncSession(bind=async_engine, expire_on_commit=False)
        try:
            # Tables are cleaned before the test, not after: at teardown the other fixture's session
            # (uuid and bigint are both set up) may still hold the test's uncommitted writes.
            await _clean_async(session, models)
            yield session, models
        finally:
            await session.rollback()
            await session.close()

    params = [
        inspect.Parameter("async_engine", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(models_fixture, inspect.Parameter.KEYWORD_ONLY),
        inspect.Parameter(schema_fixture, inspect.Parameter.KEYWORD_ONLY),
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY),
    ]
    fixture.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return fixture


def _committed_sync(models_fixture: str, schema_fixture: str) -> Any:
    def fixture(engine: Any, request: pytest.FixtureRequest, **kwargs: Any) -> Generator[tuple[Any, dict], None, None]:
        models = kwargs[models_fixture]
        if getattr(engine.dialect, "name", "") == "mock":
            from unittest.mock import create_autospec

            session_mock = create_autospec(Session, instance=True)
            session_mock.bind = engine
            yield session_mock, models
            return
        session = Session(bind=engine, expire_on_commit=False)
        try:
            _clean_sync(session, models)  # before the test (see the async fixture)
            yield session, models
        finally:
            session.rollback()
            session.close()

    params = [
        inspect.Parameter("engine", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(models_fixture, inspect.Parameter.KEYWORD_ONLY),
        inspect.Parameter(schema_fixture, inspect.Parameter.KEYWORD_ONLY),
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY),
    ]
    fixture.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return fixture


COMMITTED_FIXTURES = {
    "uuid_test_session_async": _committed_async("uuid_models_dba", "uuid_schema_async"),
    "bigint_test_session_async": _committed_async("bigint_models_dba", "bigint_schema_async"),
    "uuid_test_session_sync": _committed_sync("uuid_models_dba", "uuid_schema_sync"),
    "bigint_test_session_sync": _committed_sync("bigint_models_dba", "bigint_schema_sync"),
}


def _commit_seeds() -> None:
    """AA's seed helpers flush and do not commit: commit after them."""
    module = sys.modules.get("tests.integration.repository_fixtures")
    if module is None or getattr(module, "_lak_committed", False):
        return
    seed_async, seed_sync = module.seed_test_data_async, module.seed_test_data_sync

    async def seed_test_data_async(session: Any, models: Any, pk_type: str) -> None:
        await seed_async(session, models, pk_type)
        if isinstance(session, AsyncSession):
            await session.commit()

    def seed_test_data_sync(session: Any, models: Any, pk_type: str) -> None:
        seed_sync(session, models, pk_type)
        if isinstance(session, Session):
            session.commit()

    module.seed_test_data_async = seed_test_data_async
    module.seed_test_data_sync = seed_test_data_sync
    module._lak_committed = True


# --- hooks ----------------------------------------------------------------------------------------


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if BASELINE:
        return
    substitute()  # AA modules imported since (extensions) get the kit's classes too
    if not READ_TWICE:
        return
    _commit_seeds()
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        for name, replacement in COMMITTED_FIXTURES.items():
            for fixturedef in info.name2fixturedefs.get(name, ()):
                if fixturedef.func is not replacement:
                    fixturedef.func = replacement  # type: ignore[misc]


OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        previous = OUTCOMES.get(report.nodeid)
        if previous in {"failed", "error"}:
            return
        if report.when != "call" and report.outcome == "failed":
            OUTCOMES[report.nodeid] = "error"
        elif report.outcome == "skipped" and hasattr(report, "wasxfail"):
            OUTCOMES[report.nodeid] = "xfailed"
        else:
            OUTCOMES[report.nodeid] = report.outcome


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        OUTCOMES[report.nodeid] = "collection-error"


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not REPORT:
        return
    data = {
        "mode": MODE,
        "outcomes": OUTCOMES,
        "hits": COUNTS.hits,
        "compared": COUNTS.compared,
        "differences": COUNTS.differences,
    }
    with open(REPORT, "w", encoding="utf-8") as file:  # noqa: PTH123
        json.dump(data, file, indent=1, default=str)
