"""WHERE criteria that render bare, and statements whose criteria are parenthesized.

SQLAlchemy parenthesizes what it composes when precedence needs it (an ``or_()`` inside an ``and_()``),
but renders raw SQL as written: a ``text()`` or ``literal_column()`` holding ``OR``, AND-ed beside an
equality (``where(tenant_id == t, literal_column("a OR b"))``), renders ``tenant_id = :t AND a OR b``,
which the database reads as ``(tenant_id = :t AND a) OR b``: every tenant's ``b`` rows.

A criterion *renders bare* (:func:`renders_bare`) when raw SQL reaches its rendering outside every pair
of parentheses SQLAlchemy puts around it. Raw SQL is a ``TextClause``, a literal ``ColumnClause``
(``literal_column()``) unless its text is one parenthesized expression (:func:`parenthesized`), a name
SQLAlchemy is told not to quote, and a construct rendered by a
``@compiles`` function (it may render anything). Parentheses are a ``Grouping`` node (what
``self_group()`` adds, function arguments) and a nested statement (a subquery renders in parentheses,
and its ``WHERE`` is its own). Every other node is looked through: ``==``, ``LIKE``, ``NOT``, a cast add
no parentheses around a raw operand that SQLAlchemy does not parse. The rule may call bare a fragment
the compiler happens to enclose (a ``CASE``, a window's ``OVER (...)``): that costs a proof or adds a
pair of parentheses, never a wrong answer. A fragment with unbalanced parentheses defeats any
grouping: no rule can see that one.

Both uses are here: :mod:`~litestar_alchemy_kit.orm.restriction` proves nothing about a ``WHERE`` with a
bare term, and a repository parenthesizes what it ANDs: its base statement's ``WHERE`` as a whole
(:func:`enclose_where`, so the statement keeps its own meaning), each filter of a call (:func:`sealed`),
and so the tenant filter and a ``get()``'s primary key restrict everything beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from sqlalchemy import and_
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    ColumnClause,
    GroupedElement,
    Grouping,
    TextClause,
)
from sqlalchemy.sql.selectable import FromClause, SelectBase

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ClauseElement
    from sqlalchemy.sql.selectable import Select

__all__ = ("enclose_where", "parenthesized", "raw_clauses", "renders_bare", "sealed", "where_criteria")

_StatementT = TypeVar("_StatementT")


# Text holding one of these is never taken as enclosed: a backslash escape (MySQL), dollar quoting
# (PostgreSQL) or a comment can hide a parenthesis from the scan below.
_OPAQUE: Final = ("\\", "$", "#", "--", "/*")
_QUOTES: Final = frozenset("'\"`")


def parenthesized(sql: str) -> bool:
    """Whether ``sql`` is one parenthesized expression: its first ``(`` closes at its last character.

    Quoted strings and identifiers are skipped; text that could hide a parenthesis otherwise (comments,
    backslash escapes, dollar quoting) is not enclosed.
    """
    sql = sql.strip()
    if not sql.startswith("(") or any(marker in sql for marker in _OPAQUE):
        return False
    depth = 0
    quote = ""
    for index, char in enumerate(sql):
        if quote:
            quote = "" if char == quote else quote  # a doubled quote closes and reopens: same outcome
        elif char in _QUOTES:
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index == len(sql) - 1
    return False


# What a node is, by its class (memoized: one dict lookup per node on the read path). A ``@compiles``
# rendering registered after a class was first seen is not noticed, as SQLAlchemy's own compiled cache
# does not notice it: register them at import time.
_STOP, _RAW, _TEXT, _COLUMN, _BINARY, _OTHER = range(6)
_kinds: dict[type, int] = {}


def _kind(cls: type) -> int:
    found = _kinds.get(cls)
    if found is None:
        if getattr(cls, "_compiler_dispatcher", None) is not None:
            found = _RAW  # a @compiles rendering (sqlalchemy.ext.compiler): whatever it returns
        elif issubclass(cls, (GroupedElement, SelectBase, BindParameter)):
            found = _STOP  # parenthesized, a nested statement (always parenthesized), or a placeholder
        elif issubclass(cls, TextClause):
            found = _TEXT
        elif issubclass(cls, ColumnClause):
            found = _COLUMN
        elif issubclass(cls, FromClause):
            found = _STOP  # a table's name, quoted
        elif issubclass(cls, BinaryExpression):
            found = _BINARY  # the common filter, without the generic traversal
        else:
            found = _OTHER
        _kinds[cls] = found
    return found


def renders_bare(element: ClauseElement) -> bool:
    """Whether raw SQL in ``element`` renders outside every parenthesis SQLAlchemy adds around it.

    Such a criterion AND-ed with another may bind to it with the raw SQL's own operators (``OR``).
    """
    kind = _kind(type(element))
    node: Any = element
    if kind == _BINARY:
        return renders_bare(node.left) or renders_bare(node.right)
    if kind == _TEXT:
        return not parenthesized(node.text)
    if kind == _COLUMN:
        # a literal renders as written, and so does a name told not to be quoted (quoted_name(..., quote=False))
        return not parenthesized(node.name) if node.is_literal else getattr(node.name, "quote", None) is False
    if kind == _OTHER:
        return any(renders_bare(child) for child in element.get_children())
    return kind == _RAW  # else _STOP


def raw_clauses(statement: Select[Any]) -> tuple[str, ...]:
    """The methods that gave ``statement`` raw SQL outside its expressions, in order; empty for none.

    Those are ``prefix_with``, ``suffix_with``, ``with_hint`` and ``with_statement_hint``.

    SQLAlchemy renders their text as it is, around the clauses: a suffix or a statement hint right after the
    last clause (after the ``WHERE``, an ``OR`` extends it), a prefix before the columns, a hint beside a table.
    No parentheses can contain them, and none is seen by :func:`renders_bare`.
    """
    found: list[str] = []
    for method, present in (
        ("prefix_with", statement._prefixes),  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        ("suffix_with", statement._suffixes),  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        ("with_hint", statement._hints),  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        ("with_statement_hint", statement._statement_hints),  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    ):
        if present:
            found.append(method)
    return tuple(found)


def where_criteria(statement: object) -> tuple[Any, ...]:
    """The criteria of ``statement``'s ``WHERE``, in the order they were added (none for other constructs)."""
    # SQLAlchemy keeps them on Select, Update and Delete under this name, with no public accessor
    criteria: tuple[Any, ...] = getattr(statement, "_where_criteria", ())
    return criteria


def _with_criteria(statement: _StatementT, criteria: tuple[Any, ...]) -> _StatementT:
    # what SQLAlchemy's own where() does (a generative copy, then a new criteria tuple): there is no public
    # way to replace criteria already added, and the caller's statement must not change
    copy: Any = statement._generate()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue,reportUnknownMemberType]  # noqa: SLF001
    copy._where_criteria = criteria  # noqa: SLF001
    return cast("_StatementT", copy)


def sealed(statement: _StatementT, start: int = 0) -> _StatementT:
    """``statement`` with each bare criterion of its ``WHERE``, from the ``start``-th on, in parentheses.

    For the criteria a call adds one by one (a repository's filters): AND-ed, each is meant as a unit.
    A ``Select``, ``Update`` or ``Delete``; ``statement`` itself is returned when nothing is bare (memoized
    statements keep their identity), else a copy (``statement`` never changes).
    """
    criteria = where_criteria(statement)
    bare = [index >= start and renders_bare(criterion) for index, criterion in enumerate(criteria)]
    if not any(bare):
        return statement
    pairs = zip(criteria, bare, strict=True)
    return _with_criteria(
        statement, tuple(Grouping(criterion) if grouped else criterion for criterion, grouped in pairs)
    )


def enclose_where(statement: _StatementT) -> _StatementT:
    """``statement`` with its whole ``WHERE`` in one pair of parentheses, if a criterion of it is bare.

    For a statement of the caller's (a repository's base ``statement=``): it keeps the meaning it has on
    its own, exactly as SQLAlchemy renders it, and a condition AND-ed to it afterwards restricts all of it.
    Same identity and copy rules as :func:`sealed`.
    """
    criteria = where_criteria(statement)
    if not any(renders_bare(criterion) for criterion in criteria):
        return statement
    return _with_criteria(statement, (Grouping(and_(*criteria)),))
