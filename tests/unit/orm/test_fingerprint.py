"""Fingerprints: equal for equal statements, different for anything that changes the result."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy import filters
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import joinedload, lazyload, selectinload, subqueryload
from sqlalchemy.sql import Executable

from litestar_alchemy_kit.orm import statement as _statement
from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo, analyze
from tests.unit.orm.models import Author, Book, Status, Token, aa_filtered, statements

ROOT = Path(__file__).resolve().parents[3]


def fingerprint(statement: Executable, dialect: Any, **kwargs: Any) -> str:
    info = analyze(statement, dialect=dialect, **kwargs)
    assert isinstance(info, StatementInfo), info
    return info.fingerprint


def test_catalogue_is_cacheable_and_rebuilt_statements_match(dialect: Any) -> None:
    first = {name: fingerprint(stmt, dialect) for name, stmt in statements().items()}
    second = {name: fingerprint(stmt, dialect) for name, stmt in statements().items()}
    assert first == second
    assert len(set(first.values())) == len(first), "two different statements share a fingerprint"


def test_bound_values_change_the_fingerprint(dialect: Any) -> None:
    values: list[Any] = [
        1,
        2,
        "1",
        1.0,
        True,
        None,
        b"\x01",
        decimal.Decimal(1),
        decimal.Decimal("1.0"),
        uuid.UUID(int=1),
        datetime.date(2024, 1, 1),
        datetime.datetime(2024, 1, 1),  # noqa: DTZ001 - naive and aware must differ
        datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        datetime.timedelta(seconds=1),
        Status.LIVE,
        Status.DRAFT,
    ]
    prints = [fingerprint(select(Author).where(Author.name == bindparam("v", value)), dialect) for value in values]
    assert len(set(prints)) == len(values)


def test_in_lists_are_ordered_and_complete(dialect: Any) -> None:
    def in_list(values: list[int]) -> str:
        return fingerprint(select(Author).where(Author.id.in_(values)), dialect)

    assert in_list([1, 2]) == in_list([1, 2])
    assert len({in_list([1, 2]), in_list([2, 1]), in_list([1, 2, 3]), in_list([12]), in_list([1])}) == 5


def test_strings_cannot_collide_through_concatenation(dialect: Any) -> None:
    two = select(Author).where(Author.name == "ab", Author.name != "c")
    other = select(Author).where(Author.name == "a", Author.name != "bc")
    assert fingerprint(two, dialect) != fingerprint(other, dialect)


def test_aa_filters_each_change_the_fingerprint(dialect: Any) -> None:
    variants = [
        aa_filtered(),
        aa_filtered(filters.CollectionFilter("id", [1, 2])),
        aa_filtered(filters.CollectionFilter("id", [1, 3])),
        aa_filtered(filters.NotInCollectionFilter("id", [1, 2])),
        aa_filtered(filters.BeforeAfter("id", 10, None)),  # type: ignore[arg-type]
        aa_filtered(filters.BeforeAfter("id", None, 10)),  # type: ignore[arg-type]
        aa_filtered(filters.LimitOffset(10, 0)),
        aa_filtered(filters.LimitOffset(10, 10)),
        aa_filtered(filters.OrderBy("name", "asc")),
        aa_filtered(filters.OrderBy("name", "desc")),
        aa_filtered(filters.SearchFilter("name", "x", ignore_case=False)),
        aa_filtered(filters.SearchFilter("name", "x", ignore_case=True)),
        aa_filtered(filters.SearchFilter("name", "y", ignore_case=True)),
    ]
    prints = [fingerprint(stmt, dialect) for stmt in variants]
    assert len(set(prints)) == len(variants)


class _OpaqueFilter(filters.StatementFilter):
    """A custom filter whose repr() says nothing about what it filters: AA keys such filters by repr()."""

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def __repr__(self) -> str:
        return "_OpaqueFilter()"

    def append_to_statement(self, statement: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        return statement.where(model.id >= self.minimum)


class _OtherOpaqueFilter(_OpaqueFilter):
    def append_to_statement(self, statement: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        return statement.where(model.name != str(self.minimum))


def test_custom_filters_with_equal_repr_never_collide(dialect: Any) -> None:
    one, two, other = _OpaqueFilter(1), _OpaqueFilter(2), _OtherOpaqueFilter(1)
    assert repr(one) == repr(two) == repr(other)
    prints = {fingerprint(aa_filtered(f), dialect) for f in (one, two, other)}
    assert len(prints) == 3


def test_loader_options_change_the_fingerprint(dialect: Any) -> None:
    base = select(Author)
    variants = [
        base,
        base.options(selectinload(Author.tags)),
        base.options(joinedload(Author.tags)),
        base.options(subqueryload(Author.tags)),
        base.options(lazyload(Author.books)),
        base.options(selectinload(Author.books).joinedload(Book.chapters)),
    ]
    prints = [fingerprint(stmt, dialect) for stmt in variants]
    assert len(set(prints)) == len(variants)


def test_execution_options_change_the_fingerprint_unless_result_neutral(dialect: Any) -> None:
    base = select(Author).where(Author.id == 1)
    plain = fingerprint(base, dialect)
    assert fingerprint(base, dialect, execution_options={"yield_per": 10, "logging_token": "x"}) == plain
    assert fingerprint(base.execution_options(populate_existing=True), dialect) == plain
    translated = fingerprint(base, dialect, execution_options={"schema_translate_map": {None: "tenant_a"}})
    other = fingerprint(base, dialect, execution_options={"schema_translate_map": {None: "tenant_b"}})
    on_statement = fingerprint(base.execution_options(schema_translate_map={None: "tenant_a"}), dialect)
    assert len({plain, translated, other}) == 3
    assert on_statement == translated
    assert fingerprint(base, dialect, execution_options={"identity_token": "a"}) != plain


def test_execute_parameters_are_part_of_the_fingerprint(dialect: Any) -> None:
    statement = select(Author).where(Author.id == bindparam("ident"))
    assert fingerprint(statement, dialect, params={"ident": 1}) != fingerprint(statement, dialect, params={"ident": 2})


def test_base_statements_differ(dialect: Any) -> None:
    tenant_a = select(Author).where(Author.name == "tenant-a")
    tenant_b = select(Author).where(Author.name == "tenant-b")
    assert fingerprint(tenant_a.where(Author.id == 1), dialect) != fingerprint(tenant_b.where(Author.id == 1), dialect)


def test_dialects_do_not_share_fingerprints() -> None:
    from tests.unit.orm.conftest import DIALECTS

    statement = select(Author).where(Author.id == 1)
    assert len({fingerprint(statement, d) for d in DIALECTS.values()}) == len(DIALECTS)


def test_structure_is_analyzed_once_per_process(dialect: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = _statement._analyze_structure

    def counting(*args: Any) -> Any:
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(_statement, "_analyze_structure", counting)
    marker = "memo-probe-structure"
    for ident in range(20):
        fingerprint(select(Author).where(Author.id == ident, Author.name != marker), dialect)
    assert len(calls) == 1


def test_uncacheable_bound_value_bypasses(dialect: Any) -> None:
    result = analyze(select(Author).where(Author.name == bindparam("v", object())), dialect=dialect)
    assert isinstance(result, Bypass)
    assert "no deterministic encoding" in result.reason
    result = analyze(select(Author), dialect=dialect, execution_options={"custom": object()})
    assert isinstance(result, Bypass)


def test_text_fragment_without_table_reads_is_fingerprinted(dialect: Any) -> None:
    one = fingerprint(select(Author).where(text("st_author.id > :n").bindparams(n=1)), dialect)
    two = fingerprint(select(Author).where(text("st_author.id > :n").bindparams(n=2)), dialect)
    assert one != two


_SUBPROCESS = """
import json, sys
from tests.unit.orm.conftest import DIALECTS
from tests.unit.orm.models import statements
from litestar_alchemy_kit.orm.statement import analyze, model_schema_fingerprint
from tests.unit.orm import models
out = {}
for dname, dialect in DIALECTS.items():
    for name, stmt in statements().items():
        info = analyze(stmt, dialect=dialect)
        out[dname + ":" + name] = [info.fingerprint, sorted(info.tags)]
for cls in (models.Author, models.Book, models.Token, models.Manager):
    out["schema:" + cls.__name__] = model_schema_fingerprint(cls)
json.dump(out, sys.stdout)
"""


def _run(seed: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_fingerprints_are_stable_across_processes_and_hash_seeds() -> None:
    first, second = _run("1"), _run("4242")
    assert first == second
    assert len(first) > 80
    from tests.unit.orm.conftest import DIALECTS

    here = {}
    for dname, dialect in DIALECTS.items():
        for name, stmt in statements().items():
            info = analyze(stmt, dialect=dialect)
            assert isinstance(info, StatementInfo)
            here[dname + ":" + name] = [info.fingerprint, sorted(info.tags)]
    assert {k: v for k, v in first.items() if not k.startswith("schema:")} == here


def test_uuid_model_fingerprint(dialect: Any) -> None:
    assert fingerprint(select(Token).where(Token.id == uuid.UUID(int=1)), dialect) != fingerprint(
        select(Token).where(Token.id == uuid.UUID(int=2)), dialect
    )


_FIRST_COMPILE_SCENARIO = """
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from litestar_alchemy_kit.orm.statement import analyze
from tests.unit.orm.models import Author

dialect = sqlite.dialect()
base = select(Author).where(Author.id == 7)
plain = analyze(base, dialect=dialect).fingerprint  # the first compile of the process
copy = base.execution_options(populate_existing=True)
changed = copy._generate_cache_key().key != base._generate_cache_key().key
print(changed, analyze(copy, dialect=dialect).fingerprint == plain)
"""


def test_copy_made_after_the_first_compile_keeps_the_fingerprint() -> None:
    # In a fresh process the first compile of an ORM select makes later copies of it carry
    # ORM compile options (with default values), so SQLAlchemy's cache key changes.
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_COMPILE_SCENARIO], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.split() == ["True", "True"], result.stdout + result.stderr
