"""Tables a query reads that its statement does not show: aliased loader targets, ``order_by``, raw SQL in a mapper.

Each stale-read test reads through the cache before the write (the entry exists), commits the write in
another session, and checks that the next cached read returns what the database holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import ForeignKey, create_engine, func, literal_column, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    aliased,
    column_property,
    defaultload,
    foreign,
    immediateload,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
    subqueryload,
)
from sqlalchemy.sql import Executable

from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.dependencies import relationship_tags
from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo, analyze
from litestar_alchemy_kit.repository import CachedSyncRepository, bind_cache
from tests.unit.orm.conftest import DIALECTS


class Base(DeclarativeBase):
    pass


class A(Base):
    """Loads its ``bs`` only through loader options, here of an aliased target."""

    __tablename__ = "hr_a"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    score: Mapped[int]
    bs: Mapped[list[B]] = relationship(lazy="select")


class B(Base):
    __tablename__ = "hr_b"
    id: Mapped[int] = mapped_column(primary_key=True)
    a_id: Mapped[int] = mapped_column(ForeignKey("hr_a.id"))
    score: Mapped[int]
    cs: Mapped[list[C]] = relationship(lazy="select")


class C(Base):
    __tablename__ = "hr_c"
    id: Mapped[int] = mapped_column(primary_key=True)
    b_id: Mapped[int | None] = mapped_column(ForeignKey("hr_b.id"))


# the b rows scoring above every a row: which ones they are depends on all of hr_a, in every tenant
HighB = aliased(B, select(B).where(B.score > select(func.max(A.score)).scalar_subquery()).subquery())


class P(Base):
    """Eagerly loads, by default, an aliased class whose selectable reads all of ``hr_p``."""

    __tablename__ = "hr_p"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    score: Mapped[int]


class Q(Base):
    __tablename__ = "hr_q"
    id: Mapped[int] = mapped_column(primary_key=True)
    p_id: Mapped[int] = mapped_column(ForeignKey("hr_p.id"))
    score: Mapped[int]


HighQ = aliased(Q, select(Q).where(Q.score > select(func.max(P.score)).scalar_subquery()).subquery())
P.high_qs = relationship(  # type: ignore[attr-defined]
    HighQ, primaryjoin=P.id == foreign(HighQ.p_id), viewonly=True, lazy="selectin", order_by=HighQ.id
)


class R(Base):
    """Eagerly loads its items ordered by their number of votes: a table only ``order_by`` names."""

    __tablename__ = "hr_r"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    items: Mapped[list[S]] = relationship(
        lazy="selectin",
        order_by=lambda: (select(func.count(Vote.id)).where(Vote.s_id == S.id).scalar_subquery().desc(), S.id),
    )


class S(Base):
    __tablename__ = "hr_s"
    id: Mapped[int] = mapped_column(primary_key=True)
    r_id: Mapped[int] = mapped_column(ForeignKey("hr_r.id"))


class Vote(Base):
    __tablename__ = "hr_vote"
    id: Mapped[int] = mapped_column(primary_key=True)
    s_id: Mapped[int] = mapped_column(ForeignKey("hr_s.id"))


class K(Base):
    """A column property in raw SQL: the table it reads has no name the analysis can see."""

    __tablename__ = "hr_k"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    n: Mapped[int] = column_property(literal_column("(SELECT count(*) FROM hr_c)"))


class W(Base):
    """Eagerly loads a relationship whose ``order_by`` is raw SQL reading another table."""

    __tablename__ = "hr_w"
    id: Mapped[int] = mapped_column(primary_key=True)
    cs: Mapped[list[WC]] = relationship(lazy="selectin", order_by=lambda: literal_column("(SELECT count(*) FROM hr_c)"))


class WC(Base):
    __tablename__ = "hr_wc"
    id: Mapped[int] = mapped_column(primary_key=True)
    w_id: Mapped[int] = mapped_column(ForeignKey("hr_w.id"))


SQLITE = DIALECTS["sqlite"]
PARENT, CHILD = "t:hr_a", "t:hr_b"


def tags(statement: Executable) -> set[str]:
    info = analyze(statement, dialect=SQLITE)
    assert isinstance(info, StatementInfo), info
    return set(info.tags)


@pytest.fixture
def sessions(tmp_path: Any) -> Iterator[tuple[sessionmaker[Session], SyncCache]]:
    engine = create_engine(f"sqlite:///{tmp_path}/hidden.db")
    Base.metadata.create_all(engine)
    cache = SyncCache(SyncMemoryBackend())
    factory = sessionmaker(engine, expire_on_commit=False)
    bind_cache(factory, cache)
    yield factory, cache
    engine.dispose()


def _stays_fresh(
    sessions: tuple[sessionmaker[Session], SyncCache],
    read: Callable[[Session, SyncCache | None], Any],
    write: Callable[[Session], None],
) -> None:
    """Populate the entry, hit it, commit ``write`` in another session: the next read equals the database."""
    factory, cache = sessions
    for _ in range(3):  # a selectinload's first execution may key apart from the next ones
        with factory() as session:
            read(session, cache)
    assert cache.stats["hit"] >= 1, "the entry exists: a read came from the cache"
    with factory() as session:
        write(session)
        session.commit()
    with factory() as session:
        cached = read(session, cache)
    with factory() as session:
        assert cached == read(session, None), "a committed write left the cached read stale"


def _raise(session: Session, model: type[Any], pk: int, score: int) -> None:
    row = session.get(model, pk)
    assert row is not None
    row.score = score


class ARepository(CachedSyncRepository[A]):
    model_type = A


class PRepository(CachedSyncRepository[P]):
    model_type = P


class RRepository(CachedSyncRepository[R]):
    model_type = R


class KRepository(CachedSyncRepository[K]):
    model_type = K


OPTIONS = {
    "selectin": lambda: selectinload(A.bs.of_type(HighB)),
    "subquery": lambda: subqueryload(A.bs.of_type(HighB)),
    "immediate": lambda: immediateload(A.bs.of_type(HighB)),
    "nested": lambda: selectinload(A.bs.of_type(HighB)).selectinload(HighB.cs),
    "defaultload": lambda: defaultload(A.bs.of_type(HighB)).selectinload(HighB.cs),
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_loader_option_through_an_aliased_class_reads_what_the_alias_reads(
    name: str, sessions: tuple[sessionmaker[Session], SyncCache]
) -> None:
    statement = select(A).where(A.tenant == 1).options(OPTIONS[name]())
    assert {f"{PARENT}:any", f"{CHILD}:any"} <= tags(statement), "the alias reads hr_a in every tenant"
    assert not any(":part=" in tag for tag in tags(statement))
    factory, _ = sessions
    with factory() as session:
        session.add_all([A(id=1, tenant=1, score=1), A(id=2, tenant=2, score=1), B(id=1, a_id=1, score=5)])
        session.commit()

    def read(session: Session, cache: SyncCache | None) -> list[list[int]]:
        repo = ARepository(session=session, cache=cache)
        found = repo.get_many(A.tenant == 1, load=[OPTIONS[name]()], use_cache=cache is not None)
        return [[b.id for b in a.bs] for a in found]

    _stays_fresh(sessions, read, lambda session: _raise(session, A, 2, 10))


@pytest.mark.parametrize("method", ["list", "get"])
def test_a_default_eager_relationship_to_an_aliased_class_reads_what_the_alias_reads(
    method: str, sessions: tuple[sessionmaker[Session], SyncCache]
) -> None:
    assert tags(select(P).where(P.tenant == 1)) >= {"t:hr_p:any", "t:hr_q:any"}
    info = analyze(select(P), dialect=SQLITE)
    assert isinstance(info, StatementInfo)
    assert info.pk_lookup is None, "other rows of hr_p decide what get(pk) loads"
    factory, _ = sessions
    with factory() as session:
        session.add_all([P(id=1, tenant=1, score=1), P(id=2, tenant=2, score=1), Q(id=1, p_id=1, score=5)])
        session.commit()

    def read(session: Session, cache: SyncCache | None) -> list[list[int]]:
        repo = PRepository(session=session, cache=cache)
        use_cache = cache is not None
        found = (
            [repo.get(1, use_cache=use_cache)] if method == "get" else repo.get_many(P.tenant == 1, use_cache=use_cache)
        )
        return [[q.id for q in p.high_qs] for p in found]  # type: ignore[attr-defined]

    _stays_fresh(sessions, read, lambda session: _raise(session, P, 2, 10))


def test_a_relationship_order_by_counts(sessions: tuple[sessionmaker[Session], SyncCache]) -> None:
    assert "t:hr_vote" in relationship_tags(R.items.property)
    assert {"t:hr_vote", "t:hr_vote:any"} <= tags(select(R).where(R.tenant == 1))
    factory, _ = sessions
    with factory() as session:
        session.add_all([R(id=1, tenant=1), S(id=1, r_id=1), S(id=2, r_id=1), Vote(id=1, s_id=1)])
        session.commit()

    def read(session: Session, cache: SyncCache | None) -> list[list[int]]:
        found = RRepository(session=session, cache=cache).get_many(R.tenant == 1, use_cache=cache is not None)
        return [[s.id for s in r.items] for r in found]

    def vote(session: Session) -> None:
        session.add_all([Vote(id=2, s_id=2), Vote(id=3, s_id=2)])

    _stays_fresh(sessions, read, vote)


def test_raw_sql_in_a_mapper_bypasses_like_raw_sql_in_a_statement(
    sessions: tuple[sessionmaker[Session], SyncCache],
) -> None:
    in_statement = analyze(select(A.id, literal_column("(SELECT count(*) FROM hr_c)")), dialect=SQLITE)
    assert isinstance(in_statement, Bypass)
    for statement in (select(K), select(K).where(K.tenant == 1), select(W), select(A).options(selectinload("*"))):
        result = analyze(statement, dialect=SQLITE)
        if statement.column_descriptions[0]["entity"] is A:
            assert isinstance(result, StatementInfo), "no relationship of A reads raw sql"
            continue
        assert isinstance(result, Bypass), statement
        assert result.reason == in_statement.reason, "the same telemetry reason"
    # W's entities are not loaded: its eager relationship is not read
    assert isinstance(analyze(select(A).join(W, W.id == A.id), dialect=SQLITE), StatementInfo)
    factory, cache = sessions
    with factory() as session:
        session.add(K(id=1, tenant=1))
        session.commit()

    def read(session: Session) -> list[int]:
        return [k.n for k in KRepository(session=session, cache=cache).get_many()]

    for _ in range(2):
        with factory() as session:
            assert read(session) == [0]
    with factory() as session:
        session.add(C(id=1))
        session.commit()
    with factory() as session:
        assert read(session) == [1], "a committed write left the cached read stale"
