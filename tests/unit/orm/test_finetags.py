"""Fine tags: which reads are proven row or partition reads, and what a flushed unit of work bumps."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import (
    CHAR,
    ForeignKey,
    Integer,
    String,
    Text,
    Uuid,
    bindparam,
    create_engine,
    event,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    aliased,
    column_property,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.cascades import declare_dependency, forget_dependencies
from litestar_alchemy_kit.orm.dependencies import name_tag, table_tag
from litestar_alchemy_kit.orm.finetags import column_kind, value_token
from litestar_alchemy_kit.orm.invalidation import bound_sync_caches
from litestar_alchemy_kit.orm.statement import StatementInfo, analyze
from litestar_alchemy_kit.repository import CachedSyncRepository, bind_cache
from tests.unit.orm._bumps import recording_cache


class Base(DeclarativeBase):
    pass


class Org(Base):
    __tablename__ = "ft_org"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(20))
    docs: Mapped[list[Doc]] = relationship(back_populates="org", lazy="noload")


class Doc(Base):
    __tablename__ = "ft_doc"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant: Mapped[str] = tenant_column(String(20))
    title: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("ft_org.id"))
    org: Mapped[Org | None] = relationship(back_populates="docs", lazy="noload")


class Sheet(Base):
    __tablename__ = "ft_sheet"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    group: Mapped[int]


# a correlated subquery over its own table: this table is read beyond the WHERE's reach
_other_sheets = Sheet.__table__.alias()
Sheet.siblings = column_property(  # type: ignore[attr-defined]
    select(func.count()).select_from(_other_sheets).where(_other_sheets.c.group == Sheet.group).scalar_subquery()
)


class Node(Base):
    """Eagerly loads its children: rows of its own table in any partition."""

    __tablename__ = "ft_node"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("ft_node.id"))
    children: Mapped[list[Node]] = relationship(lazy="selectin", join_depth=1)


class Tree(Base):
    """A foreign key to its own table that cascades: deleting a row deletes its subtree, in the database."""

    __tablename__ = "ft_tree"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("ft_tree.id", ondelete="CASCADE"))


class OrgBadge(Base):
    """A table whose name starts like ``ft_org``'s fine tags: ``ft_org:any`` plus more."""

    __tablename__ = "ft_org:anything"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("ft_org.id"))
    label: Mapped[str] = mapped_column(String(20))


class OrgAny(Base):
    """A table named like ``ft_org``'s ``any`` tag."""

    __tablename__ = "ft_org:any"

    id: Mapped[int] = mapped_column(primary_key=True)


SQLITE, MYSQL, POSTGRESQL = sqlite.dialect(), mysql.dialect(), postgresql.dialect()
ORG, DOC, NODE = "t:ft_org", "t:ft_doc", "t:ft_node"


def tags(statement: Executable, dialect: Any = SQLITE) -> set[str]:
    info = analyze(statement, dialect=dialect)
    assert isinstance(info, StatementInfo), info
    return set(info.tags)


def test_an_and_ed_equality_on_the_tenant_column_is_a_partition_read() -> None:
    assert tags(select(Org).where(Org.tenant == 7)) == {ORG, f"{ORG}:part=i7"}
    assert tags(select(Org).where(Org.name == "x", Org.tenant == 7).order_by(Org.id).limit(5)) == {
        ORG,
        f"{ORG}:part=i7",
    }
    assert tags(select(func.count()).select_from(Org).where(Org.tenant == 7)) == {ORG, f"{ORG}:part=i7"}
    assert tags(select(Org).where(Org.tenant == 8)) == {ORG, f"{ORG}:part=i8"}, "the value is per call"


@pytest.mark.parametrize(
    "statement",
    [
        select(Org),
        select(Org).where((Org.tenant == 7) | (Org.name == "x")),
        select(Org).where(Org.tenant != 7),
        select(Org).where(Org.tenant.in_([7])),
        select(Org).where(Org.tenant == "7"),  # not the column's type: the database may coerce it
        select(Org).where(Org.tenant == 7, Org.id.in_(select(Org.id))),  # read again in a subquery
        select(Org).join(aliased(Org), literal_column("1") == 1).where(Org.tenant == 7),  # read twice
        select(Org).where(Org.tenant == 7).options(with_loader_criteria(Org, Org.name != "")),  # opaque option
    ],
    ids=["no-where", "or", "not-equal", "in", "wrong-type", "subquery", "self-join", "opaque-option"],
)
def test_anything_else_is_an_any_read(statement: Executable) -> None:
    assert tags(statement) == {ORG, f"{ORG}:any"}


def test_string_tenants_are_exact_only_where_string_equality_is() -> None:
    assert tags(select(Doc.title).where(Doc.tenant == "acme")) == {DOC, f"{DOC}:part=sacme"}
    # MySQL/MariaDB collations ignore case and trailing spaces: 'ACME' finds 'acme' rows
    assert tags(select(Doc.title).where(Doc.tenant == "acme"), MYSQL) == {DOC, f"{DOC}:any"}
    # Org's integer tenant is exact everywhere
    assert tags(select(Org).where(Org.tenant == 1), MYSQL) == {ORG, f"{ORG}:part=i1"}


class _Lowered(TypeDecorator[str]):
    """A bind type that rewrites its value on the way in, as a slug or normalising type does."""

    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.lower()


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRESQL], ids=["sqlite", "postgresql"])
def test_a_bind_whose_type_may_rewrite_the_value_proves_no_partition(dialect: Any) -> None:
    # the database finds 'acme' rows: a partition tag of 'ACME' would miss their writes
    rewritten = select(Doc.title).where(Doc.tenant == literal("ACME", _Lowered()))
    assert tags(rewritten, dialect) == {DOC, f"{DOC}:any"}
    # of another kind than the column: the database coerces it
    assert tags(select(Org).where(Org.tenant == literal("7", String())), dialect) == {ORG, f"{ORG}:any"}
    # a bind of the column's own kind, explicit or taken from the column, proves it
    assert tags(select(Org).where(Org.tenant == literal(7, Integer())), dialect) == {ORG, f"{ORG}:part=i7"}
    assert tags(select(Org).where(Org.tenant == bindparam("t", 7)), dialect) == {ORG, f"{ORG}:part=i7"}


def test_tables_read_beyond_the_where_are_any_reads() -> None:
    # a column property over its own table
    assert tags(select(Sheet).where(Sheet.tenant == 1)) == {"t:ft_sheet", "t:ft_sheet:any"}
    # an eager self-referential relationship loads children of any tenant
    assert tags(select(Node).where(Node.tenant == 1)) == {NODE, f"{NODE}:any"}
    # an optioned relationship: the parent stays a partition read, the child table is read as a whole
    loaded = select(Org).where(Org.tenant == 1).options(selectinload(Org.docs))
    assert tags(loaded) == {ORG, f"{ORG}:part=i1", DOC, f"{DOC}:any"}
    joined = select(Doc.title).join(Doc.org).where(Org.tenant == 1, Doc.tenant == "t")
    assert tags(joined) == {ORG, f"{ORG}:part=i1", DOC, f"{DOC}:part=st"}, "each table by its own rules"
    eager_join = select(Org).where(Org.tenant == 1).options(joinedload(Org.docs))
    assert tags(eager_join) == {ORG, f"{ORG}:part=i1", DOC, f"{DOC}:any"}


def test_parameters_beside_the_statement_void_the_proof() -> None:
    info = analyze(select(Org).where(Org.tenant == 7), dialect=SQLITE, params={"tenant_1": 8})
    assert isinstance(info, StatementInfo)
    assert set(info.tags) == {ORG, f"{ORG}:any"}


def test_a_primary_key_lookup_narrows_to_a_row() -> None:
    info = analyze(select(Org).where(Org.tenant == 7), dialect=SQLITE)
    assert isinstance(info, StatementInfo)
    lookup = info.pk_lookup
    assert lookup is not None
    assert (lookup.base, lookup.row(5)) == ((ORG,), f"{ORG}:row=i5")
    assert lookup.row("5") is None, "a key of another type gets no row tag"
    assert lookup.row(True) is None
    node = analyze(select(Node), dialect=SQLITE)
    assert isinstance(node, StatementInfo)
    assert node.pk_lookup is None, "its eager children are other rows of the same table"
    # whether row 5 is returned depends on other rows of the table (read again in a subquery)
    names = select(Org.name).where(Org.tenant == 2)
    subquery = analyze(select(Org).join(Doc, Doc.org_id == Org.id).where(Org.name.in_(names)), dialect=SQLITE)
    assert isinstance(subquery, StatementInfo)
    assert subquery.pk_lookup is None


def test_value_tokens_are_exact_and_typed() -> None:
    org_tenant, doc_id = Org.__table__.c.tenant, Doc.__table__.c.id
    assert value_token(org_tenant, 1) == "i1"
    assert value_token(org_tenant, "1") is None
    assert value_token(org_tenant, True) is None
    key = uuid.uuid4()
    assert value_token(doc_id, key) == f"u{key.hex}"
    assert value_token(doc_id, str(key)) is None


@pytest.mark.parametrize(
    "type_",
    [
        CHAR(5),
        String(5, collation="utf8mb4_general_ci"),
        String().with_variant(Text(), "mysql"),
        Uuid(as_uuid=False),
        CITEXT(),
    ],
    ids=["char", "collation", "variant", "uuid-as-str", "citext"],
)
def test_types_whose_equality_may_differ_get_no_fine_tags(type_: Any) -> None:
    from sqlalchemy import Column

    assert column_kind(Column("x", type_)) is None


@pytest.fixture
def recorded() -> Any:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    cache, bumped = recording_cache()
    session = Session(engine, expire_on_commit=False)
    bind_cache(session, cache)
    yield session, bumped
    session.close()
    engine.dispose()


def test_unit_of_work_writes_bump_their_rows_and_partitions(recorded: Any) -> None:
    session, bumped = recorded
    org = Org(id=1, tenant=10, name="a")
    session.add(org)
    session.commit()
    assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i1", f"{ORG}:part=i10"}, "an insert: no foreign-key action"
    org.tenant = 11
    session.commit()
    assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i1", f"{ORG}:part=i10", f"{ORG}:part=i11"}
    org.name = "b"
    session.commit()
    assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i1", f"{ORG}:part=i11"}
    session.delete(org)
    session.commit()
    assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i1", f"{ORG}:part=i11"}


def test_a_dependency_declared_after_a_write_counts_for_the_next_write(recorded: Any) -> None:
    """What a mapper's rows bump is memoized per mapper, and recomputed once the dependency graph changes."""
    session, bumped = recorded
    org = Org(id=4, tenant=10, name="a")
    session.add(org)
    session.commit()
    assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i4", f"{ORG}:part=i10"}
    declare_dependency(Org.__table__, "ft_org_copy")  # a trigger copying the table's rows
    try:
        org.name = "b"
        session.commit()
        assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i4", f"{ORG}:part=i10", name_tag("ft_org_copy")}
    finally:
        forget_dependencies()
    org.name = "c"
    session.commit()
    assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i4", f"{ORG}:part=i10"}


def test_unknown_values_bump_the_coarse_tag(recorded: Any) -> None:
    session, bumped = recorded
    session.add(Org(id=2, tenant=10, name="a"))
    session.commit()
    bumped.clear()
    org = session.get(Org, 2)
    session.expire(org, ["tenant"])
    org.name = "b"  # the session does not hold the tenant: the flush reads it from the database
    session.commit()
    assert bumped.pop() == {f"{ORG}:any", f"{ORG}:row=i2", f"{ORG}:part=i10"}
    session.add(Org(id=3, tenant="12", name="c"))  # stored as 12 by the database, not by Python
    session.commit()
    assert ORG in bumped.pop()
    session.execute(update(Org).where(Org.name == "c").values(name="d"))
    session.commit()
    assert bumped.pop() == {ORG}, "a bulk UPDATE's rows are unknown"


def test_a_row_whose_tenant_was_not_read_bumps_the_coarse_tag(recorded: Any) -> None:
    """Flushed before a cache was bound: the tenant was not read from the database, and the session's may be stale."""
    session, bumped = recorded
    session.add(Org(id=5, tenant=10, name="a"))
    session.commit()
    bumped.clear()
    (cache,) = bound_sync_caches(session)
    with Session(session.get_bind(), expire_on_commit=False) as other:
        row = other.get(Org, 5)
        assert row is not None
        row.name = "b"
        other.flush()
        bind_cache(other, cache)
        other.commit()
    # the session's own commit; its flush, made with no cache bound, is also the connection's raw write (coarse)
    assert bumped == [{ORG, f"{ORG}:any", f"{ORG}:row=i5"}, {ORG}]


def test_a_table_whose_writes_cascade_to_its_own_rows_bumps_its_coarse_tag(tmp_path: Any) -> None:
    """Deleting a parent deletes its children in the database: their rows (and row tags) are unknown to the flush."""
    engine = create_engine(f"sqlite:///{tmp_path}/tree.db")
    event.listen(engine, "connect", lambda connection, _: connection.execute("PRAGMA foreign_keys=ON"))
    Base.metadata.create_all(engine)

    class TreeRepository(CachedSyncRepository[Tree]):
        model_type = Tree

    cache = SyncCache(SyncMemoryBackend())
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_cache(sessions, cache)
    with sessions() as session:
        session.add_all([Tree(id=1, name="root"), Tree(id=2, name="leaf", parent_id=1)])
        session.commit()
    for _ in range(2):  # populate get(2), then hit it
        with sessions() as session:
            assert TreeRepository(session=session, cache=cache).get(2).name == "leaf"
    assert cache.stats["hit"] == 1
    with sessions() as session:
        TreeRepository(session=session, cache=cache).delete(1)
        assert session.execute(select(func.count()).select_from(Tree)).scalar_one() == 0, "the database cascaded"
        session.commit()
    with sessions() as session, pytest.raises(NotFoundError):
        TreeRepository(session=session, cache=cache).get(2)
    engine.dispose()


def test_table_names_with_the_tag_separator_get_tags_of_their_own(tmp_path: Any) -> None:
    """``:`` is escaped in table names: a table's tags never pass for another table's fine tags.

    A ``get(pk)`` entry keeps the tags of every other table its base statement joins; a table called
    ``ft_org:anything`` lost them to the filter that drops ``ft_org``'s ``any`` tags, so a write to
    it left the entry served after the commit (invariant 1).
    """
    assert table_tag(OrgAny.__table__) != f"{ORG}:any"
    assert not table_tag(OrgBadge.__table__).startswith(f"{ORG}:")
    engine = create_engine(f"sqlite:///{tmp_path}/badges.db")
    Base.metadata.create_all(engine)

    class BadgedOrgs(CachedSyncRepository[Org]):
        model_type = Org

    cache = SyncCache(SyncMemoryBackend())
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_cache(sessions, cache)
    with sessions() as session:
        session.add_all([Org(id=1, tenant=1, name="acme"), OrgBadge(id=1, org_id=1, label="gold")])
        session.commit()
    base = select(Org).join(OrgBadge, OrgBadge.org_id == Org.id).where(OrgBadge.label == "gold")
    for _ in range(2):  # populate get(1), then hit it
        with sessions() as session:
            assert BadgedOrgs(session=session, cache=cache, statement=base).get(1).name == "acme"
    assert cache.stats["hit"] == 1
    with sessions() as session:
        badge = session.get(OrgBadge, 1)
        assert badge is not None
        badge.label = "silver"
        session.commit()
    with sessions() as session, pytest.raises(NotFoundError):
        BadgedOrgs(session=session, cache=cache, statement=base).get(1)
    engine.dispose()
