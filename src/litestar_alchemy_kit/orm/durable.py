"""Writes made durable by something other than their transaction's commit, delivered where that happens.

A session's tags wait for its commit and a connection's held writes for its transaction's commit; a rollback
forgets them (invariant 2). Some routes commit a transaction's writes before that, and a later rollback undoes
nothing, so their tags must be delivered no later than the route itself (invariant 1):

- ``Connection.commit()`` on a session's connection (``(await session.connection()).commit()``) fires the
  engine's ``commit`` event while the session's transaction is still active (its own commit fires it only once
  ``before_commit`` has prepared it): the session's tags are taken from it and join that commit's two phases
  (:mod:`~litestar_alchemy_kit.orm.rawdml`, :mod:`~litestar_alchemy_kit.orm.enginecommit`);
- a ``COMMIT`` statement in SQL (``COMMIT``, ``END``, ``COMMIT WORK``, ``COMMIT AND CHAIN`` ...), which
  SQLAlchemy does not see: what the transaction holds so far (the session's tags and the connection's) is taken,
  marked before the statement runs and bumped after it. SQLAlchemy still counts its transaction as open, and
  the driver either begins a new one (psycopg, MySQL drivers, SQLite) or runs every later statement in a
  transaction of its own until SQLAlchemy's ends (asyncpg, DuckDB): until then each write on the connection is
  both bracketed as under ``AUTOCOMMIT`` and held for the real commit as usual (:func:`loose`);
- statements that commit implicitly or may (MySQL / MariaDB DDL, ``LOCK TABLES``, ``BEGIN`` ...; a ``COMMIT``
  among several statements): what the transaction holds and the statement's own writes are delivered around it
  and kept for the real commit too. Taking them would be a stale read wherever the guess is wrong; keeping
  them is an extra invalidation at most.

Writes to MySQL's non-transactional tables (MyISAM, MEMORY, ...) are durable as each statement runs, inside a
transaction or not, and nothing in the statement says so: an engine writing them needs ``AUTOCOMMIT``
(every statement bracketed), or its rollbacks may leave stale entries.
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from sqlalchemy.dialects.postgresql.base import PGDialect

from litestar_alchemy_kit.orm import enginecommit, sqlitetx
from litestar_alchemy_kit.orm.binding import owning_session, session_delivers
from litestar_alchemy_kit.orm.databases import database_key, engine_caches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session


__all__ = (
    "Commits",
    "autocommit_set",
    "commit_prepared",
    "commits",
    "forget_prepared",
    "install",
    "keep_prepared",
    "loose",
    "note_autocommit",
    "note_rollback",
    "prepares_in_sql",
    "session_writes",
    "statement_phase",
    "transaction_ended",
    "two_phase",
    "xa_commits_elsewhere",
)

Commits: TypeAlias = 'Literal["commit", "maybe"]'
"""``"commit"``: the statement commits the transaction; ``"maybe"``: it may (implicitly, or among others)."""
SessionTake: TypeAlias = "Callable[[Session, bool], tuple[list[str], bool]]"
"""The tags a session's commit would bump and whether it clears namespaces; forgotten by it when asked to."""

_SKIP: Final = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"  # whitespace and comments
_COMMIT: Final = re.compile(
    rf"{_SKIP}(?:commit|end)(?:\s+(?:work|transaction))?(?:\s+and\s+(?:no\s+)?chain)?(?:\s+(?:no\s+)?release)?"
    rf"{_SKIP};?{_SKIP}",
    re.IGNORECASE | re.DOTALL,
)
_LATER_COMMIT: Final = re.compile(r";\s*(?:commit|end)\b", re.IGNORECASE)
# A ROLLBACK statement (not ROLLBACK TO a savepoint, nor ROLLBACK PREPARED): like COMMIT, it ends the transaction
# behind SQLAlchemy, and asyncpg / DuckDB then commit every later statement as it runs
_ROLLBACK: Final = re.compile(
    rf"{_SKIP}(?:rollback|abort)(?:\s+(?:work|transaction))?(?:\s+and\s+(?:no\s+)?chain)?(?:\s+(?:no\s+)?release)?"
    rf"{_SKIP};?{_SKIP}",
    re.IGNORECASE | re.DOTALL,
)
# MySQL / MariaDB XA in SQL: XA COMMIT (one phase, or of a prepared transaction) commits, XA PREPARE may end it
_XA: Final = re.compile(rf"{_SKIP}xa\s+(commit|prepare)\b(.*)", re.IGNORECASE | re.DOTALL)
_ONE_PHASE: Final = re.compile(r"\bone\s+phase\b", re.IGNORECASE)
# MySQL / MariaDB statements documented to commit the open transaction first ("Statements That Cause an Implicit
# Commit"), except CREATE / DROP TEMPORARY TABLE and MariaDB's BEGIN NOT ATOMIC block. Not CALL / EXECUTE: their
# procedure or statement may COMMIT, but counting every one would clear the namespace at each read-only CALL
_IMPLICIT: Final = re.compile(
    rf"{_SKIP}(?:(?:create|drop)(?!\s+(?:or\s+replace\s+)?temporary\b)|alter|rename|truncate|grant|revoke|"
    r"lock\s+tables?|unlock\s+tables?|(?:analyze|check|optimize|repair)\s+(?:no_write_to_binlog\s+|local\s+)?tables?|"
    r"cache\s+index|load\s+index|flush|reset|install|uninstall|start\s+transaction|begin(?!\s+not\s+atomic))\b",
    re.IGNORECASE | re.DOTALL,
)
# MySQL / MariaDB: a SET statement (first, or after a ';') and each assignment to autocommit in it, whatever its
# scope spelling (@@autocommit, @@session.autocommit, SESSION / LOCAL / GLOBAL autocommit) and its position among
# other assignments; a user variable (@autocommit) is none
_SET: Final = re.compile(rf"(?:^|;){_SKIP}set\s+([^;]*)", re.IGNORECASE | re.DOTALL)
_AUTOCOMMIT: Final = re.compile(
    r"(?:^|,)\s*(?:@@(?:session\.|local\.|global\.)?|(?:session|local|global)\s+)?autocommit\s*:?=\s*([^,]*)",
    re.IGNORECASE,
)
# MySQL / MariaDB run the SQL inside an executable comment (``/*!40101 SET autocommit=1 */``, MariaDB's ``/*M!...*/``)
_EXECUTABLE_COMMENT: Final = re.compile(r"/\*M?!\d*(.*?)\*/", re.DOTALL)
_OFF: Final = frozenset({"0", "off", "false", "'0'", "'off'", '"0"', '"off"'})
_GLOBAL: Final = re.compile(r"\bglobal\b", re.IGNORECASE)
_AUTOCOMMIT_KEY: Final = "litestar_alchemy_kit.durable.autocommit"  # in Connection.info: kept with the DBAPI connection
# PostgreSQL's two-phase commit in SQL (first, or after a ';'), with its transaction identifier when it is a literal
_TWO_PHASE: Final = re.compile(
    rf"(?:^|;){_SKIP}(prepare\s+transaction|commit\s+prepared|rollback\s+prepared)\b\s*(?:'((?:[^']|'')*)')?",
    re.IGNORECASE | re.DOTALL,
)
_TWO_PHASE_DIALECTS: Final = frozenset({"postgresql"})
_PREPARED_LIMIT: Final = 4096
_IMPLICIT_DIALECTS: Final = frozenset({"mysql", "mariadb"})

_take: list[SessionTake] = []
_loose: weakref.WeakSet[Connection] = weakref.WeakSet()
_autocommit_seen: list[bool] = []  # whether any SET autocommit ran (loose() skips Connection.info otherwise)
# What each prepared transaction of this process wrote, by database and identifier, until COMMIT / ROLLBACK PREPARED
_prepared: dict[tuple[tuple[str, str | None], str], frozenset[str]] = {}
_own_prepares: weakref.WeakSet[Connection] = weakref.WeakSet()  # SQLAlchemy's TwoPhaseTransaction.prepare() running


def install(take: SessionTake) -> None:
    """Let this module take a session's tags (:mod:`~litestar_alchemy_kit.orm.invalidation` keeps them; idempotent)."""
    if not _take:
        _take.append(take)


def commits(sql: str, dialect_name: str) -> Commits | None:
    """Whether ``sql`` commits the transaction it runs in (``None``: it does not).

    Args:
        sql: the statement as sent to the driver.
        dialect_name: SQLAlchemy's dialect name (MySQL's implicit commits).

    Returns:
        ``"commit"`` for a lone ``COMMIT`` / ``END``, ``"maybe"`` for a statement that may commit.
    """
    if _COMMIT.fullmatch(sql):
        return "commit"
    if dialect_name in _IMPLICIT_DIALECTS:
        if (xa := _XA.match(sql)) is not None:
            return "commit" if xa.group(1).lower() == "commit" else "maybe"
        if _IMPLICIT.match(sql) or autocommit_set(sql) is not None:
            return "maybe"
    if ";" in sql and (_LATER_COMMIT.search(sql) or _COMMIT.match(sql)):
        return "maybe"
    return None


def xa_commits_elsewhere(sql: str, dialect_name: str) -> bool:
    """Whether ``sql`` is MySQL's ``XA COMMIT`` of a prepared transaction, which any connection may have written.

    Its writes are known only when this connection wrote them (they are delivered as its ``"commit"``); one
    prepared by another connection or process may have written anything: the statement invalidates everything.
    """
    if dialect_name not in _IMPLICIT_DIALECTS or "xa" not in sql[:64].lower():
        return False
    xa = _XA.match(sql)
    return xa is not None and xa.group(1).lower() == "commit" and _ONE_PHASE.search(xa.group(2)) is None


def note_rollback(connection: Connection, sql: str) -> None:
    """A ``ROLLBACK`` statement ends the transaction behind SQLAlchemy: ``connection`` is :func:`loose` until it ends.

    What the transaction held is undone; kept for the real commit, it is an extra invalidation at most.
    """
    if _ROLLBACK.fullmatch(sql):
        _loose.add(connection)


def autocommit_set(sql: str) -> bool | None:
    """What a MySQL / MariaDB statement sets ``autocommit`` to (``None``: it does not set it).

    Args:
        sql: the statement as sent to the driver.

    Returns:
        ``False`` only when every assignment plainly turns it off in the session's own scope; ``True`` for any
        other value (``1``, ``ON``, ``DEFAULT``, a variable, an expression such as ``0 + 1``: unknown values count
        as on, an extra invalidation at most), and for any ``GLOBAL`` in the statement (its assignments may be
        global, not the session's). Assignments inside MySQL's executable comments (``/*!...*/``) count: they run.
    """
    if "autocommit" not in sql.lower():  # the read path: one substring test
        return None
    if "/*" in sql:
        sql = _EXECUTABLE_COMMENT.sub(r" \1 ", sql)
    found: bool | None = None
    for statement in _SET.finditer(sql):
        body = statement.group(1)
        for assignment in _AUTOCOMMIT.finditer(body):
            # off only when the whole value is a plain off (``0 + 1`` is on)
            on = assignment.group(1).strip().lower() not in _OFF or _GLOBAL.search(body) is not None
            found = on or bool(found)
    return found


def note_autocommit(connection: Connection, sql: str) -> None:
    """Raw ``sql`` that turns autocommit on or off behind SQLAlchemy (MySQL / MariaDB ``SET autocommit``).

    Turning it on commits the open transaction (:func:`commits` counts it as ``"maybe"``) and every later statement
    as it runs, in this transaction and the connection's next ones until it is turned off again: the connection is
    :func:`loose` until then. Kept with the DBAPI connection, which keeps the setting through checkins.
    """
    if connection.dialect.name not in _IMPLICIT_DIALECTS:
        return
    setting = autocommit_set(sql)
    if setting is None:
        return
    if not _autocommit_seen:
        _autocommit_seen.append(True)
    connection.info[_AUTOCOMMIT_KEY] = setting


def prepares_in_sql(connection: Connection) -> bool:
    """Whether SQLAlchemy's two-phase API on ``connection`` runs SQL this module reads (``before_cursor_execute``).

    PostgreSQL's own dialect implementation does (``PREPARE TRANSACTION``, ``COMMIT PREPARED``: asyncpg); drivers
    with a DBAPI two-phase API (psycopg's ``tpc_*``) run none, and only the engine's events tell.
    """
    dialect = type(connection.dialect)
    return dialect.do_commit_twophase is PGDialect.do_commit_twophase and (
        dialect.do_prepare_twophase is PGDialect.do_prepare_twophase
    )


def keep_prepared(connection: Connection, xid: object, held: Iterable[str] | None) -> None:
    """SQLAlchemy prepares ``connection``'s two-phase transaction (PostgreSQL): keep its writes for its commit.

    A session committing the transaction delivers its own tags once it has committed; what the connection holds
    is kept under ``xid`` for the commit of the prepared transaction (:func:`commit_prepared`, or the
    ``COMMIT PREPARED`` statement :func:`two_phase` reads).
    """
    if prepares_in_sql(connection):  # its PREPARE TRANSACTION statement follows (two_phase)
        _own_prepares.add(connection)
    _keep(database_key(connection.engine), str(xid), set(held or ()))


def commit_prepared(connection: Connection, xid: object) -> frozenset[str]:
    """What committing prepared transaction ``xid`` makes durable (``{"*"}``: unknown here, anything).

    Args:
        connection: the connection that commits it (on the transaction's database).
        xid: its identifier.
    """
    writes = _prepared.pop((database_key(connection.engine), str(xid)), None)
    return frozenset(("*",)) if writes is None else writes


def forget_prepared(connection: Connection, xid: object) -> None:
    """Prepared transaction ``xid`` is rolled back: nothing it wrote is delivered."""
    _prepared.pop((database_key(connection.engine), str(xid)), None)


def _keep(database: tuple[str, str | None], gid: str, tags: set[str]) -> None:
    key = (database, gid)
    if key not in _prepared and len(_prepared) >= _PREPARED_LIMIT:
        del _prepared[next(iter(_prepared))]  # the oldest: its commit, if it comes, invalidates everything
    _prepared[key] = _prepared.get(key, frozenset()) | tags


def two_phase(connection: Connection, sql: str, take_held: Callable[[], Iterable[str] | None]) -> frozenset[str] | None:
    """PostgreSQL's ``PREPARE TRANSACTION`` / ``COMMIT PREPARED`` / ``ROLLBACK PREPARED`` in ``sql``.

    MySQL's ``XA COMMIT`` of a prepared transaction commits everything (:func:`xa_commits_elsewhere`).

    ``PREPARE TRANSACTION`` takes the transaction's writes out of the connection and its session (a later
    rollback undoes nothing; nothing is durable yet) and keeps them under the transaction's identifier;
    ``COMMIT PREPARED`` makes them durable as it runs, from any connection. A prepared transaction this process
    does not know (another process, an identifier that is no literal, one forgotten) may have written anything
    on the database: its commit invalidates every cache of it, as unattributable raw DML does.

    Args:
        connection: where ``sql`` runs.
        sql: the statement as sent to the driver.
        take_held: takes what ``connection``'s transaction holds for its real commit.

    Returns:
        What ``sql`` commits as it runs (a set containing ``"*"``: everything), ``None`` when nothing.
    """
    if xa_commits_elsewhere(sql, connection.dialect.name):
        return frozenset(("*",))
    if connection.dialect.name not in _TWO_PHASE_DIALECTS or "prepare" not in sql.lower():
        return None
    committed: set[str] = set()
    for step in _TWO_PHASE.finditer(sql):
        verb = step.group(1).lower()
        gid = step.group(2).replace("''", "'") if step.group(2) is not None else None
        if verb.startswith("prepare"):
            _prepare(connection, database_key(connection.engine), gid, take_held)
        elif gid is None:  # an identifier this module cannot read: it cannot be known
            if verb.startswith("commit"):
                committed.add("*")
        elif verb.startswith("commit"):
            committed.update(commit_prepared(connection, gid))
        else:
            forget_prepared(connection, gid)
    return frozenset(committed) if committed else None


def _prepare(
    connection: Connection,
    database: tuple[str, str | None],
    gid: str | None,
    take_held: Callable[[], Iterable[str] | None],
) -> None:
    tags = set(take_held() or ())
    if connection in _own_prepares:
        _own_prepares.discard(connection)  # the session committing it delivers its tags after COMMIT PREPARED
    else:
        tags.update(session_writes(connection, statement="commit") or ())
        _loose.add(connection)  # the transaction is gone, as after a COMMIT statement
    if gid is not None:  # else its COMMIT PREPARED cannot be attributed: it invalidates everything
        _keep(database, gid, tags)


def loose(connection: Connection) -> bool:
    """Whether a write on ``connection`` may commit as it runs.

    After a ``COMMIT`` statement in SQLAlchemy's transaction, or while the server runs the connection with
    autocommit on (:func:`note_autocommit`).
    """
    return (bool(_loose) and connection in _loose) or (
        bool(_autocommit_seen) and bool(connection.info.get(_AUTOCOMMIT_KEY))
    )


def transaction_ended(connection: Connection) -> None:
    """SQLAlchemy's transaction on ``connection`` ended: the driver begins the next one as usual."""
    if _loose:
        _loose.discard(connection)
    sqlitetx.forget(connection)


def session_writes(connection: Connection, *, statement: Commits | None) -> frozenset[str] | None:
    """What the session whose transaction runs on ``connection`` holds for its commit, now made durable.

    The delivery invalidates the caches registered for the connection's database: the session's are, since its
    transaction began there (``invalidation._after_begin``).

    Args:
        connection: the connection of the session's transaction.
        statement: what a statement does (``None``: ``connection``'s own commit, which the session's commit
            also calls; those writes are left to the session's ``after_commit``). The tags are taken from the
            session unless they are only ``"maybe"`` committed, or the session is committing already.

    Returns:
        The tags (a set containing ``"*"`` when a whole namespace is invalidated), ``None`` when none.
    """
    owner = owning_session(connection)
    if owner is None or not _take or not session_delivers(owner, connection):
        return None  # no session, or one whose writes the connection already holds (rawdml._record)
    root = owner.get_transaction()
    active = root is not None and root.is_active  # PREPARED, not active, while its commit commits the connection
    if statement is None and not active:
        return None
    tags, everything = _take[0](owner, active and statement != "maybe")
    if everything:
        return frozenset(("*",))
    return frozenset(tags) if tags else None


def statement_phase(
    connection: Connection, statement: Commits, own: Iterable[str] | None, held: Iterable[str] | None
) -> enginecommit.Phase | None:
    """Phase one for a statement that commits (or may) the transaction on ``connection``: mark before it runs.

    Args:
        connection: where the statement runs (not under ``AUTOCOMMIT``).
        statement: :func:`commits`' verdict; ``"commit"`` also makes the connection :func:`loose`.
        own: the statement's own writes (committed with it when it commits implicitly).
        held: what ``connection``'s transaction holds for its real commit.

    Returns:
        The phase for ``after_cursor_execute`` to settle, ``None`` when nothing was written.

    Raises:
        CommitRefusedError: a ``"strict"`` cache did not take its marker (the transaction is rolled back).
    """
    if statement == "commit":
        _loose.add(connection)
    tags = set(own or ())
    tags.update(held or ())
    tags.update(session_writes(connection, statement=statement) or ())
    if not tags:
        return None
    return enginecommit.mark_writes(connection, engine_caches(connection), tags)
