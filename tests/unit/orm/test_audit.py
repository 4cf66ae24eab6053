"""The statement-cache audit and its pytest helper."""

from __future__ import annotations

from typing import Any

import pytest
from advanced_alchemy.base import create_registry
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import ARRAY, Column, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, UserDefinedType

from litestar_alchemy_kit.orm.audit import AuditFinding, audit_statement_cache
from litestar_alchemy_kit.testing import assert_statement_cache_safe
from tests.unit.orm import models


class NoFlag(TypeDecorator[str]):
    impl = String


class FlagFalse(TypeDecorator[str]):
    impl = String
    cache_ok = False


class Keyed(TypeDecorator[str]):
    """Correct: its state is named after its __init__ parameter."""

    impl = String
    cache_ok = True

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix


class InheritsFlag(Keyed):
    """Does not redeclare cache_ok: SQLAlchemy reads the flag from the class itself only."""


class Hidden(TypeDecorator[str]):
    """Stores behaviour-changing state under a name no __init__ parameter has."""

    impl = String
    cache_ok = True

    def __init__(self, *args: Any, upper: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.uppercase = upper


class Lookup(UserDefinedType[str]):
    cache_ok = True

    def __init__(self, lookup: dict[str, int]) -> None:
        self.lookup = lookup

    def get_col_spec(self, **kw: Any) -> str:
        return "VARCHAR(20)"


class Sized(TypeDecorator[str]):
    impl = String
    cache_ok = True


def _table(*types: Any) -> MetaData:
    metadata = MetaData()
    Table(
        "audited", metadata, Column("id", Integer, primary_key=True), *(Column(f"c{i}", t) for i, t in enumerate(types))
    )
    return metadata


def _problems(metadata: Any) -> set[tuple[str, str]]:
    return {(f.column, f.problem) for f in audit_statement_cache(metadata)}


def test_clean_model_set_passes() -> None:
    class Clean(DeclarativeBase):
        registry = create_registry()
        metadata = registry.metadata

    class Item(Clean):
        __tablename__ = "clean_item"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(20))
        seen: Mapped[Any] = mapped_column(DateTimeUTC(timezone=True))
        label: Mapped[str] = mapped_column(Keyed("x"))

    assert audit_statement_cache(Clean) == []
    assert_statement_cache_safe(Clean.metadata)
    assert_statement_cache_safe(Clean.registry)
    assert_statement_cache_safe([Clean, MetaData()])


def test_reports_aa_guid() -> None:
    findings = audit_statement_cache(models.Base)
    guid = [f for f in findings if f.type_name == "advanced_alchemy.types.guid:GUID"]
    assert [(f.table, f.column, f.problem) for f in guid] == [("st_token", "id", "state_not_in_cache_key")]
    assert "binary" in guid[0].detail


def test_reports_guid_collision_between_columns() -> None:
    problems = _problems(_table(GUID(binary=True), GUID(binary=False)))
    assert ("c1", "cache_key_collision") in problems
    assert {("c0", "state_not_in_cache_key"), ("c1", "state_not_in_cache_key")} <= problems
    assert ("c1", "cache_key_collision") not in _problems(_table(GUID(binary=True), GUID(binary=True)))


def test_reports_cache_ok_problems() -> None:
    problems = _problems(_table(NoFlag(), FlagFalse(), InheritsFlag("y")))
    assert problems >= {("c0", "cache_ok_missing"), ("c1", "cache_ok_false"), ("c2", "cache_ok_missing")}


def test_reports_unkeyed_and_unhashable_state() -> None:
    problems = _problems(_table(Hidden(upper=True), Lookup({"a": 1}), Sized(50)))
    assert ("c0", "state_not_in_cache_key") in problems
    assert ("c1", "unhashable_cache_key") in problems
    assert ("c2", "impl_not_in_cache_key") in problems
    assert _problems(_table(Keyed("a"), Keyed("b"), Sized())) == set()


def test_nested_types_are_audited() -> None:
    problems = _problems(_table(String().with_variant(Hidden(), "postgresql"), ARRAY(Hidden())))
    assert {("c0", "state_not_in_cache_key"), ("c1", "state_not_in_cache_key")} <= problems


def test_helper_lists_every_finding_and_honours_ignore() -> None:
    metadata = _table(GUID(binary=True), Hidden(upper=True))
    with pytest.raises(AssertionError) as excinfo:
        assert_statement_cache_safe(metadata)
    message = str(excinfo.value)
    assert "audited.c0" in message
    assert "audited.c1" in message
    assert "binary" in message
    with pytest.raises(AssertionError, match=r"audited\.c1"):
        assert_statement_cache_safe(metadata, ignore=(GUID,))
    assert_statement_cache_safe(metadata, ignore=(GUID, Hidden))


def test_finding_renders_context() -> None:
    finding = audit_statement_cache(_table(Hidden(upper=True)))[0]
    assert isinstance(finding, AuditFinding)
    assert str(finding).startswith("audited.c0 (tests.unit.orm.test_audit:Hidden): state_not_in_cache_key")


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="cannot audit 42"):
        audit_statement_cache(42)
