"""Models for the statement analysis tests, on a metadata of their own."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid

from advanced_alchemy import filters
from advanced_alchemy.base import create_registry
from advanced_alchemy.types import GUID
from sqlalchemy import (
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Numeric,
    String,
    Table,
    exists,
    func,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    aliased,
    column_property,
    defer,
    joinedload,
    mapped_column,
    raiseload,
    relationship,
    selectinload,
    with_loader_criteria,
)
from sqlalchemy.sql import Executable, column, table


class Base(DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata


class Status(enum.Enum):
    DRAFT = "draft"
    LIVE = "live"


author_tag = Table(
    "st_author_tag",
    Base.metadata,
    Column("author_id", ForeignKey("st_author.id"), primary_key=True),
    Column("tag_id", ForeignKey("st_tag.id"), primary_key=True),
)


class Author(Base):
    __tablename__ = "st_author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    status: Mapped[Status] = mapped_column(Enum(Status), default=Status.DRAFT)
    books: Mapped[list[Book]] = relationship(back_populates="author", lazy="selectin")
    tags: Mapped[list[Tag]] = relationship(secondary=author_tag, lazy="select")


class Book(Base):
    __tablename__ = "st_book"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("st_author.id"))
    title: Mapped[str] = mapped_column(String(100))
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2), default=decimal.Decimal(0))
    published: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    author: Mapped[Author] = relationship(back_populates="books", lazy="select")
    chapters: Mapped[list[Chapter]] = relationship(lazy="joined")


class Chapter(Base):
    __tablename__ = "st_chapter"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("st_book.id"))
    title: Mapped[str] = mapped_column(String(100))


class Tag(Base):
    __tablename__ = "st_tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(30))


class Shelf(Base):
    """Reads another table through a column_property."""

    __tablename__ = "st_shelf"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_count: Mapped[int] = column_property(
        select(func.count(Chapter.id)).where(Chapter.book_id == id).correlate_except(Chapter).scalar_subquery()  # noqa: A003
    )


class Employee(Base):
    __tablename__ = "st_employee"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "employee"}  # noqa: RUF012


class Manager(Employee):
    __tablename__ = "st_manager"
    id: Mapped[int] = mapped_column(ForeignKey("st_employee.id"), primary_key=True)
    budget: Mapped[int] = mapped_column(default=0)
    __mapper_args__ = {"polymorphic_identity": "manager"}  # noqa: RUF012


class Archived(Base):
    __tablename__ = "st_archived"
    __table_args__ = {"schema": "arch"}  # noqa: RUF012
    id: Mapped[int] = mapped_column(primary_key=True)


class Token(Base):
    """AA's GUID as a column type (its ``binary`` flag is not part of SQLAlchemy's cache key)."""

    __tablename__ = "st_token"
    id: Mapped[uuid.UUID] = mapped_column(GUID(binary=False), primary_key=True)
    label: Mapped[str] = mapped_column(String(30))


def aa_filtered(*extra: filters.StatementFilter) -> Executable:
    """``select(Author)`` with AA filter objects applied the way AA's repository applies them."""
    statement = select(Author)
    for item in extra:
        statement = item.append_to_statement(statement, Author)
    return statement


def statements() -> dict[str, Executable]:
    """A catalogue of real statements, used for determinism across processes."""
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    chapters_cte = select(Chapter.book_id, func.count().label("n")).group_by(Chapter.book_id).cte("chapter_counts")
    book_alias = aliased(Book)
    return {
        "get": select(Author).where(Author.id == 7),
        "aa_filters": aa_filtered(
            filters.CollectionFilter("id", [1, 2, 3]),
            filters.NotInCollectionFilter("name", ["x"]),
            filters.SearchFilter("name", "ann", ignore_case=True),
            filters.OrderBy("name", "desc"),
            filters.LimitOffset(10, 20),
        ),
        "before_after": select(Book).where(Book.published > when).where(Book.price >= decimal.Decimal("9.99")),
        "enum": select(Author).where(Author.status == Status.LIVE),
        "uuid": select(Token).where(Token.id == uuid.UUID(int=5)),
        "raw_expression": select(Author).where(Author.name.like("a%") | (Author.id > 3)),
        "join": select(Author).join(Author.books).where(Book.title == "t"),
        "outer_join_alias": select(Author, book_alias).outerjoin(book_alias, Author.books),
        "subquery": select(Author).where(Author.id.in_(select(Book.author_id).where(Book.title != "x"))),
        "cte": select(Book).join(chapters_cte, chapters_cte.c.book_id == Book.id).where(chapters_cte.c.n > 2),
        "exists": select(Author).where(exists().where(Book.author_id == Author.id)),
        "any_m2m": select(Author).where(Author.tags.any(Tag.label == "x")),
        "options": select(Author).options(selectinload(Author.tags), joinedload(Author.books), raiseload("*")),
        "options_chain": select(Author).options(selectinload(Author.books).subqueryload(Book.chapters)),
        "count": select(Author).with_only_columns(func.count(text("1")), maintain_column_froms=True),
        "union": union_all(select(Author.id), select(Book.id)),
        "inheritance": select(Employee).where(Employee.id > 1),
        "schema": select(Archived),
        "lightweight": select(table("st_legacy", column("v"))).where(column("v") == 1),
        "literal": select(Author.id, literal_column("1").label("one")),
        "deferred": select(Author).options(defer(Author.name)),
        "loader_criteria": select(Author).options(with_loader_criteria(Book, Book.title != "hidden")),
    }
