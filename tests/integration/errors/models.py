"""Tables with every kind of constraint, on metadata of their own (no other test's tables leak in)."""

from advanced_alchemy.base import CommonTableAttributes, create_registry
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ErrorsBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class DeferredBase(CommonTableAttributes, DeclarativeBase):
    """Deferrable constraints: only PostgreSQL and SQLite have them."""

    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Parent(ErrorsBase):
    __tablename__ = "lak_err_parent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Numbers(ErrorsBase):
    """Integer columns of each width, for values beyond their range."""

    __tablename__ = "lak_err_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    small: Mapped[int | None] = mapped_column(SmallInteger)
    big: Mapped[int | None] = mapped_column(BigInteger)


class Child(ErrorsBase):
    __tablename__ = "lak_err_child"
    __table_args__ = (CheckConstraint("qty >= 0", name="ck_lak_err_child_qty"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parent_id: Mapped[int] = mapped_column(ForeignKey(Parent.id, name="fk_lak_err_child_parent"))
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    qty: Mapped[int] = mapped_column(Integer)


class DeferredChild(DeferredBase):
    __tablename__ = "lak_err_deferred_child"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parent_id: Mapped[int] = mapped_column(
        ForeignKey(Parent.id, name="fk_lak_err_deferred_parent", deferrable=True, initially="DEFERRED")
    )


def has_deferrable(dialect: str) -> bool:
    return dialect in {"postgresql", "sqlite"}


SECRETS = (
    "lak_err_parent",
    "lak_err_child",
    "lak_err_deferred_child",
    "ck_lak_err_child_qty",
    "fk_lak_err_child_parent",
    "fk_lak_err_deferred_parent",
    "INSERT",
    "SELECT",
    "Traceback",
)
"""Text that must never reach a client outside debug mode (besides the driver's own message)."""
