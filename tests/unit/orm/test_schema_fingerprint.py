"""model_schema_fingerprint changes with every schema change that would break decoding old entries."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.base import create_registry
from advanced_alchemy.types import GUID
from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from litestar_alchemy_kit.orm.statement import model_schema_fingerprint
from tests.unit.orm import models


def _model(**overrides: Any) -> type[Any]:
    """Build a fresh ``Thing`` model (own registry) with one aspect changed."""

    class Base(DeclarativeBase):
        registry = create_registry()
        metadata = registry.metadata

    name_type = overrides.get("name_type", String(50))
    nullable = overrides.get("nullable", False)
    extra = overrides.get("extra", False)
    rel_name = overrides.get("rel_name", "parts")
    part_type = overrides.get("part_type", String(20))
    lazy = overrides.get("lazy", "selectin")

    class Part(Base):
        __tablename__ = "thing_part"
        id: Mapped[int] = mapped_column(primary_key=True)
        thing_id: Mapped[int] = mapped_column(ForeignKey("thing.id"))
        label: Mapped[str] = mapped_column(part_type)

    attrs: dict[str, Any] = {
        "__tablename__": "thing",
        "__annotations__": {"id": Mapped[int], "name": Mapped[str]},
        "id": mapped_column(primary_key=True),
        "name": mapped_column(name_type, nullable=nullable),
        rel_name: relationship(Part, lazy=lazy),
    }
    if extra:
        attrs["__annotations__"]["price"] = Mapped[float]
        attrs["price"] = mapped_column(Numeric(10, 2))
    return type("Thing", (Base,), attrs)


def test_identical_models_share_a_fingerprint() -> None:
    assert model_schema_fingerprint(_model()) == model_schema_fingerprint(_model())


def test_every_schema_change_changes_the_fingerprint() -> None:
    variants = [
        _model(),
        _model(name_type=String(60)),
        _model(name_type=GUID(binary=True)),
        _model(name_type=GUID(binary=False)),
        _model(nullable=True),
        _model(extra=True),
        _model(rel_name="pieces"),
        _model(part_type=String(30)),  # eagerly loaded related model changed
    ]
    prints = [model_schema_fingerprint(v) for v in variants]
    assert len(set(prints)) == len(variants)


def test_lazy_related_model_is_not_part_of_the_fingerprint() -> None:
    assert model_schema_fingerprint(_model(lazy="select")) == model_schema_fingerprint(
        _model(lazy="select", part_type=String(30))
    )


def test_real_models() -> None:
    prints = {model_schema_fingerprint(m) for m in (models.Author, models.Book, models.Manager, models.Employee)}
    assert len(prints) == 4
    assert all(len(p) == 40 for p in prints)
