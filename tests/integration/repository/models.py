"""Models of the repository tests, on a registry of their own (no other test's tables leak in)."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import (
    JSON,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Interval,
    LargeBinary,
    Numeric,
    String,
    Table,
    Time,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from litestar_alchemy_kit.orm import tenant_column


class RepoBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Genre(enum.Enum):
    FICTION = "fiction"
    SCIENCE = "science"


book_label = Table(
    "lak_repo_book_label",
    RepoBase.metadata,
    Column("book_id", ForeignKey("lak_repo_book.id"), primary_key=True),
    Column("label_id", ForeignKey("lak_repo_label.id"), primary_key=True),
)


class Author(UUIDPrimaryKey, RepoBase):
    __tablename__ = "lak_repo_author"

    name: Mapped[str] = mapped_column(String(50))
    tenant: Mapped[str] = mapped_column(String(20), default="a")
    books: Mapped[list[Book]] = relationship(back_populates="author", lazy="selectin", order_by="Book.title")


class Book(UUIDPrimaryKey, RepoBase):
    __tablename__ = "lak_repo_book"

    title: Mapped[str] = mapped_column(String(80))
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2), default=decimal.Decimal("0.00"))
    genre: Mapped[Genre] = mapped_column(default=Genre.FICTION)
    published: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    tenant: Mapped[str] = mapped_column(String(20), default="a")
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lak_repo_author.id"))
    author: Mapped[Author] = relationship(back_populates="books", lazy="noload")
    labels: Mapped[list[Label]] = relationship(secondary=book_label, lazy="noload", order_by="Label.name")


class Label(UUIDPrimaryKey, RepoBase):
    __tablename__ = "lak_repo_label"

    name: Mapped[str] = mapped_column(String(40))


class Item(UUIDPrimaryKey, RepoBase):
    """A model without relationships: the plain case."""

    __tablename__ = "lak_repo_item"

    name: Mapped[str] = mapped_column(String(50))
    quantity: Mapped[int] = mapped_column(default=0)
    tenant: Mapped[str] = mapped_column(String(20), default="a")


class Vehicle(UUIDPrimaryKey, RepoBase):
    """Joined-table inheritance: a Car row lives in two tables."""

    __tablename__ = "lak_repo_vehicle"

    kind: Mapped[str] = mapped_column(String(20))
    wheels: Mapped[int] = mapped_column(default=4)
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "vehicle"}  # noqa: RUF012


class Car(Vehicle):
    __tablename__ = "lak_repo_car"

    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lak_repo_vehicle.id"), primary_key=True)
    doors: Mapped[int] = mapped_column(default=4)
    __mapper_args__ = {"polymorphic_identity": "car"}  # noqa: RUF012


class Typed(UUIDPrimaryKey, RepoBase):
    """One nullable column of each type the cache stores typed; AA's mixin adds ``sa_orm_sentinel``."""

    __tablename__ = "lak_repo_typed"

    number: Mapped[int | None]
    ratio: Mapped[float | None]
    flag: Mapped[bool | None]
    text: Mapped[str | None] = mapped_column(String(20))
    price: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2))
    at_naive: Mapped[datetime.datetime | None] = mapped_column(DateTime())
    at_utc: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    day: Mapped[datetime.date | None] = mapped_column(Date)
    clock: Mapped[datetime.time | None] = mapped_column(Time)
    span: Mapped[datetime.timedelta | None] = mapped_column(Interval)
    token: Mapped[uuid.UUID | None] = mapped_column(GUID)
    genre: Mapped[Genre | None]
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    doc: Mapped[list[Any] | None] = mapped_column(JsonB)


class Shelf(UUIDPrimaryKey, RepoBase):
    """A one-to-many relationship with no back reference: moving a note changes only the note's row."""

    __tablename__ = "lak_repo_shelf"

    name: Mapped[str] = mapped_column(String(20))
    notes: Mapped[list[Note]] = relationship(lazy="noload", cascade="all, delete-orphan")


class Note(UUIDPrimaryKey, RepoBase):
    __tablename__ = "lak_repo_note"

    text: Mapped[str] = mapped_column(String(20))
    shelf_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lak_repo_shelf.id"))


class Fleet(UUIDPrimaryKey, RepoBase):
    """Owner of a relationship to a polymorphic class (:class:`Machine`)."""

    __tablename__ = "lak_repo_fleet"

    name: Mapped[str] = mapped_column(String(20))
    machines: Mapped[list[Machine]] = relationship(lazy="noload", order_by="Machine.name")


class Machine(UUIDPrimaryKey, RepoBase):
    """Joined-table inheritance base of the statement shapes (:class:`Truck` rows live in two tables)."""

    __tablename__ = "lak_repo_machine"

    name: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    fleet_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lak_repo_fleet.id"))
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "machine"}  # noqa: RUF012


class Truck(Machine):
    __tablename__ = "lak_repo_truck"

    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lak_repo_machine.id"), primary_key=True)
    payload: Mapped[int] = mapped_column(default=0)
    __mapper_args__ = {"polymorphic_identity": "truck"}  # noqa: RUF012


class Shape(UUIDPrimaryKey, RepoBase):
    """Single-table inheritance: a :class:`Circle` is a row of the same table."""

    __tablename__ = "lak_repo_shape"

    name: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "shape"}  # noqa: RUF012


class Circle(Shape):
    radius: Mapped[int | None] = mapped_column(nullable=True)
    __mapper_args__ = {"polymorphic_identity": "circle"}  # noqa: RUF012


class Project(UUIDPrimaryKey, RepoBase):
    """A tenant-owned model: reads filtered by its declared tenant column are partition reads.

    Integer tenants: string equality is exact on PostgreSQL, SQLite and DuckDB only, integers everywhere.
    """

    __tablename__ = "lak_repo_project"

    name: Mapped[str] = mapped_column(String(50))
    tenant: Mapped[int] = tenant_column()
    tasks: Mapped[list[Task]] = relationship(
        back_populates="project", lazy="noload", cascade="all, delete-orphan", order_by="Task.title"
    )


class Task(UUIDPrimaryKey, RepoBase):
    """A tenant-owned child of :class:`Project`."""

    __tablename__ = "lak_repo_task"

    title: Mapped[str] = mapped_column(String(50))
    tenant: Mapped[int] = tenant_column()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lak_repo_project.id"))
    project: Mapped[Project] = relationship(back_populates="tasks", lazy="noload")


class GeneratedBase(CommonTableAttributes, DeclarativeBase):
    """Tables only the scenarios that use them create: not every engine of the matrix can (DuckDB, computed columns)."""

    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class Account(UUIDPrimaryKey, GeneratedBase):
    """A tenant the database computes: the hundred of the account's org number, read back after each write."""

    __tablename__ = "lak_repo_account"
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    name: Mapped[str] = mapped_column(String(20))
    org: Mapped[int]
    tenant: Mapped[int] = tenant_column(Computed("org - org % 100"), nullable=True)  # MariaDB: no NOT NULL here


class Membership(GeneratedBase):
    """A tenant-owned model with a composite primary key: AA deletes rows of such keys with a statement of its own."""

    __tablename__ = "lak_repo_membership"

    team: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    member: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(20))


class ViewBase(CommonTableAttributes, DeclarativeBase):
    """Models of views a scenario creates itself (``create_all`` must never make them tables)."""

    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class ItemSnapshot(UUIDPrimaryKey, ViewBase):
    """PostgreSQL: a materialized view over :class:`Item`'s table, current only when refreshed."""

    __tablename__ = "lak_repo_item_mv"

    name: Mapped[str] = mapped_column(String(50))
