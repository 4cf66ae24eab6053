"""The instance codec: exact round trips through msgpack, refusal of anything inexact."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

import msgspec
import pytest
from sqlalchemy import (
    ARRAY,
    JSON,
    ForeignKey,
    Integer,
    Numeric,
    PickleType,
    PrimaryKeyConstraint,
    String,
    create_engine,
    inspect,
    select,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    lazyload,
    load_only,
    mapped_column,
    relationship,
    selectinload,
)
from sqlalchemy.orm.exc import DetachedInstanceError

from litestar_alchemy_kit.orm.attach import attach_rows
from litestar_alchemy_kit.orm.codec import RowCodec, Uncacheable, registry_schema


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "codec_parent"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(20))
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    color: Mapped[Color]
    born: Mapped[datetime.date]
    at: Mapped[datetime.datetime]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    blob: Mapped[bytes | None]
    children: Mapped[list[Child]] = relationship(back_populates="parent", lazy="selectin", order_by="Child.id")


class Child(Base):
    __tablename__ = "codec_child"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("codec_parent.id"))
    parent: Mapped[Parent] = relationship(back_populates="children", lazy="joined")


class Pickled(Base):
    __tablename__ = "codec_pickled"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[Any] = mapped_column(PickleType)


class Pair(Base):
    """A composite primary key whose constraint lists its columns in another order than the class."""

    __tablename__ = "codec_pair"

    a: Mapped[int]
    b: Mapped[int]
    value: Mapped[str] = mapped_column(String(10))
    __table_args__ = (PrimaryKeyConstraint("b", "a"),)


class Plain(Base):
    __tablename__ = "codec_plain"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


def _wire(payload: Any) -> Any:
    """What the cache hands back: the payload after a msgpack round trip, untyped."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(payload))


@pytest.fixture
def session() -> Any:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        parent = Parent(
            name="p",
            price=decimal.Decimal("1.50"),
            color=Color.BLUE,
            born=datetime.date(2020, 1, 2),
            at=datetime.datetime(2020, 1, 2, 3, 4, 5),  # noqa: DTZ001 - a naive value must come back naive
            data={"a": [1, 2]},
            blob=b"\x00\x01",
            children=[Child(id=1), Child(id=2)],
        )
        session.add_all([parent, Pickled(id=1, value={1, 2})])
        session.commit()
        session.expunge_all()
        yield session


def test_round_trip_is_exact_and_fresh(session: Session) -> None:
    codec = RowCodec(Parent)
    rows = [tuple(row) for row in session.execute(select(Parent)).all()]
    payload = _wire(codec.encode_rows(["Parent"], rows))
    keys, first = codec.decode_rows(payload)
    _, second = codec.decode_rows(payload)
    original, built = rows[0][0], first[0][0]
    assert keys == ["Parent"]
    for column in ("id", "name", "price", "color", "born", "at", "data", "blob"):
        assert getattr(built, column) == getattr(original, column)
        assert type(getattr(built, column)) is type(getattr(original, column))
    state = inspect(built)
    assert state.detached
    assert state.key == inspect(original).key
    assert built is not second[0][0]
    assert built.children[0] is not second[0][0].children[0]
    # eager relationships come back, with their own identity, and the many-to-one cycle resolved
    assert [c.id for c in built.children] == [1, 2]
    assert built.children[0].parent is built


def test_rebuilt_instances_merge_without_loading(session: Session) -> None:
    codec = RowCodec(Parent)
    payload = _wire(codec.encode_rows(["Parent"], [tuple(r) for r in session.execute(select(Parent)).all()]))
    built = codec.decode_rows(payload)[1][0][0]
    merged = session.merge(built, load=False)
    assert merged in session
    assert not session.dirty


def test_unloaded_attributes_stay_unloaded(session: Session) -> None:
    codec = RowCodec(Parent)
    rows = [
        tuple(r)
        for r in session.execute(select(Child).options(selectinload(Child.parent).lazyload(Parent.children))).all()
    ]
    built = codec.decode_rows(_wire(codec.encode_rows(["Child"], rows)))[1]
    assert built[0][0].parent.name == "p"
    assert "children" not in inspect(built[0][0].parent).dict


def test_columns_the_query_did_not_load_are_expired(session: Session) -> None:
    """As on a queried instance: attached they load from the database, detached they raise (never read as None)."""
    codec = RowCodec(Parent)
    children = session.execute(select(Child).options(load_only(Child.id), lazyload(Child.parent))).scalars().all()
    flat = codec.encode_rows(["Child"], [(child,) for child in children])
    assert flat[0] == "F", "one class, no loaded relationship: the flat layout"
    expected = {"parent_id": children[0].parent_id, "price": decimal.Decimal("1.50")}
    session.expunge_all()
    loaded = (load_only(Parent.name), selectinload(Parent.children).lazyload(Child.parent))
    parents = session.execute(select(Parent).options(*loaded)).scalars().all()
    generic = codec.encode_rows(["Parent"], [(parent,) for parent in parents])
    assert generic[0] == "G", "a loaded relationship: the generic layout"
    for payload, column in ((flat, "parent_id"), (generic, "price")):
        built = codec.decode_rows(_wire(payload))[1][0][0]
        with pytest.raises(DetachedInstanceError):
            getattr(built, column)
        with Session(session.bind) as other:
            (attached,) = attach_rows(other, codec.decode_rows(_wire(payload))[1])[0]
            assert getattr(attached, column) == expected[column]


def test_identity_keys_follow_the_primary_key_order(session: Session) -> None:
    """A composite key's identity is in the mapper's primary key order: an attached row is never another row."""
    session.add_all([Pair(a=1, b=2, value="one-two"), Pair(a=2, b=1, value="two-one")])
    session.commit()
    codec = RowCodec(Pair)
    originals = session.execute(select(Pair).order_by(Pair.a)).scalars().all()
    payload = _wire(codec.encode_rows(["Pair"], [(pair,) for pair in originals]))
    built = [row[0] for row in codec.decode_rows(payload)[1]]
    assert [inspect(pair).key for pair in built] == [inspect(pair).key for pair in originals]
    with Session(session.bind) as other:
        held = other.get(Pair, (1, 2))  # identity (b, a): the row a=2, b=1
        assert held is not None
        assert held.value == "two-one"
        attached = [row[0] for row in attach_rows(other, codec.decode_rows(payload)[1])]
        assert [(pair.a, pair.b, pair.value) for pair in attached] == [(1, 2, "one-two"), (2, 1, "two-one")]
        assert attached[1] is held


def test_modified_instances_are_not_cached(session: Session) -> None:
    parent = session.execute(select(Parent)).scalar_one()
    parent.name = "changed"
    with pytest.raises(Uncacheable):
        RowCodec(Parent).encode_rows(["Parent"], [(parent,)])


def test_values_without_an_exact_wire_form_are_not_cached(session: Session) -> None:
    pickled = session.execute(select(Pickled)).scalar_one()
    with pytest.raises(Uncacheable):
        RowCodec(Pickled).encode_rows(["Pickled"], [(pickled,)])
    with pytest.raises(Uncacheable):
        RowCodec(Pickled).encode_rows(["x"], [(datetime.timedelta(seconds=1),)])


def test_scalar_rows(session: Session) -> None:
    codec = RowCodec(Parent)
    assert codec.decode_rows(_wire(codec.encode_rows(["count"], [(3,)]))) == (["count"], [(3,)])
    assert codec.decode_rows(_wire(codec.encode_rows(["x"], []))) == (["x"], [])


def test_unknown_class_in_an_entry_is_refused() -> None:
    codec = RowCodec(Parent)
    with pytest.raises(Uncacheable):
        codec.decode_rows(["G", ["x"], ["e"], [[["nowhere:Nothing", 1, [1], []]]]])


def test_schema_string_changes_with_the_registry() -> None:
    class Other(DeclarativeBase):
        pass

    class Thing(Other):
        __tablename__ = "codec_thing"
        id: Mapped[int] = mapped_column(primary_key=True)

    before = registry_schema(Thing)

    class Another(Other):
        __tablename__ = "codec_another"
        id: Mapped[int] = mapped_column(primary_key=True)
        extra: Mapped[str]

    assert registry_schema(Thing) != before
    assert registry_schema(Parent) == registry_schema(Child)


class Sparse(Base):
    """Every typed column nullable, as AA's ``sa_orm_sentinel`` is after a single-row insert."""

    __tablename__ = "codec_sparse"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int | None]
    ratio: Mapped[float | None]
    flag: Mapped[bool | None]
    text: Mapped[str | None]
    price: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2))
    at: Mapped[datetime.datetime | None]
    day: Mapped[datetime.date | None]
    clock: Mapped[datetime.time | None]
    span: Mapped[datetime.timedelta | None]
    token: Mapped[uuid.UUID | None]
    color: Mapped[Color | None]
    blob: Mapped[bytes | None]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


_SPARSE_VALUES: dict[str, Any] = {
    "number": 7,
    "ratio": 0.5,
    "flag": False,
    "text": "t",
    "price": decimal.Decimal("2.50"),
    "at": datetime.datetime(2021, 5, 6, 7, 8, 9, 10, tzinfo=datetime.timezone.utc),
    "day": datetime.date(2021, 5, 6),
    "clock": datetime.time(7, 8, 9, 10),
    "span": datetime.timedelta(days=-2, seconds=5, microseconds=3),
    "token": uuid.UUID(int=5),
    "color": Color.RED,
    "blob": b"\x00",
    "data": {"a": [1, 2.5, True, None]},
}


def _sparse(**values: Any) -> Sparse:
    obj = Sparse(id=values.pop("id", 1), **values)
    state = inspect(obj)
    # a clean persistent-like row, as a query would have produced it
    state.key = inspect(Sparse).identity_key_from_primary_key((obj.id,))
    state._commit_all(state.dict)
    for key in _SPARSE_VALUES:
        state.dict.setdefault(key, None)
    return obj


@pytest.mark.parametrize("values", [{}, _SPARSE_VALUES], ids=["all-null", "all-set"])
def test_nullable_columns_round_trip_exactly(values: dict[str, Any]) -> None:
    codec = RowCodec(Sparse)
    rows = [(_sparse(id=1, **values),), (_sparse(id=2, **values),)]
    payload = codec.encode_rows(["Sparse"], rows)
    assert payload[0] == "F", "one fully loaded class: the typed flat layout"
    _, built = codec.decode_rows(_wire(payload))
    for (original,), (copy,) in zip(rows, built, strict=True):
        for column in ("id", *_SPARSE_VALUES):
            assert getattr(copy, column) == getattr(original, column), column
            assert type(getattr(copy, column)) is type(getattr(original, column)), column


def test_nullable_columns_round_trip_in_the_generic_layout() -> None:
    codec = RowCodec(Sparse)
    rows = [(_sparse(id=1, **_SPARSE_VALUES), 3), (_sparse(id=2), None)]
    _, built = codec.decode_rows(_wire(codec.encode_rows(["Sparse", "n"], rows)))
    for original, copy in zip(rows, built, strict=True):
        assert copy[1] == original[1]
        for column in ("id", *_SPARSE_VALUES):
            assert getattr(copy[0], column) == getattr(original[0], column), column
            assert type(getattr(copy[0], column)) is type(getattr(original[0], column)), column


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("day", datetime.datetime(2021, 5, 6, 7, 8)),  # noqa: DTZ001 - a datetime where a date is expected
        ("number", True),  # a bool in an integer column would come back as an int
        ("ratio", 1),  # an int in a float column would come back as a float
        ("at", datetime.datetime(2021, 5, 6, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))),
        ("clock", datetime.time(7, 8, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))),
        ("number", 2**70),  # no msgpack form
        ("data", {"a": decimal.Decimal("1.5")}),  # would come back as a string
        ("text", b"x"),
    ],
)
def test_values_that_would_change_are_refused(column: str, value: Any) -> None:
    with pytest.raises(Uncacheable):
        RowCodec(Sparse).encode_rows(["Sparse"], [(_sparse(**{column: value}),)])


def test_utc_zones_keep_their_instant_and_offset() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    at = datetime.datetime(2021, 5, 6, 7, 8, tzinfo=zoneinfo.ZoneInfo("Etc/UTC"))  # what psycopg returns
    codec = RowCodec(Sparse)
    (copy,) = codec.decode_rows(_wire(codec.encode_rows(["Sparse"], [(_sparse(at=at),)])))[1][0]
    assert copy.at == at
    assert copy.at.utcoffset() == datetime.timedelta(0)
    assert copy.at.replace(tzinfo=None) == at.replace(tzinfo=None)


class _PgBase(DeclarativeBase):
    pass


class Arrayed(_PgBase):
    __tablename__ = "codec_arrayed"

    id: Mapped[int] = mapped_column(primary_key=True)
    numbers: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    prices: Mapped[list[decimal.Decimal] | None] = mapped_column(ARRAY(Numeric(10, 2)))


def _arrayed(**values: Any) -> Arrayed:
    obj = Arrayed(id=1, **values)
    state = inspect(obj)
    state.key = inspect(Arrayed).identity_key_from_primary_key((1,))
    state._commit_all(state.dict)
    for key in ("numbers", "prices"):
        state.dict.setdefault(key, None)
    return obj


def test_postgresql_arrays_round_trip_or_are_refused() -> None:
    codec = RowCodec(Arrayed)
    (copy,) = codec.decode_rows(_wire(codec.encode_rows(["Arrayed"], [(_arrayed(numbers=[[1, 2], [3, 4]]),)])))[1][0]
    assert copy.numbers == [[1, 2], [3, 4]]
    assert copy.prices is None
    with pytest.raises(Uncacheable):  # Decimals would come back as strings
        codec.encode_rows(["Arrayed"], [(_arrayed(prices=[decimal.Decimal("1.50")]),)])


def _beside(rows: list[tuple[Any, ...]], shape: str) -> list[tuple[Any, ...]]:
    """``rows`` as they are (``"alone"``: one instance per row), or each beside a scalar (attached cell by cell)."""
    return rows if shape == "alone" else [(*row, 7) for row in rows]


@pytest.mark.parametrize("shape", ["alone", "beside a scalar"])
@pytest.mark.parametrize("model", [Plain, Parent])
def test_rows_of_one_identity_attach_as_one_instance(session: Session, model: type[Any], shape: str) -> None:
    """A result holding a row twice attaches one instance (the session's own when it holds one), with or
    without relationships (rows without any are looked up in the identity map only), a row of one
    instance (attached in one loop) or of more cells."""
    session.add(Plain(id=1, name="a"))
    session.commit()
    session.expunge_all()
    rows = [tuple(row) for row in session.execute(select(model)).all()]
    codec = RowCodec(model)
    payload = _wire(codec.encode_rows([model.__name__], rows))
    # what a result holding the row twice decodes to (a join, say): two fresh instances of one identity
    decoded = _beside(codec.decode_rows(payload)[1] + codec.decode_rows(payload)[1], shape)
    assert decoded[0][0] is not decoded[1][0]
    with Session(session.get_bind()) as other:
        attached = attach_rows(other, decoded)
        assert attached[0][0] is attached[1][0]
        assert attached[0][0] in other
        assert other.get(model, inspect(attached[0][0]).identity) is attached[0][0]
    with Session(session.get_bind()) as holding:
        held = holding.execute(select(model)).scalar_one()
        decoded = _beside(codec.decode_rows(payload)[1] + codec.decode_rows(payload)[1], shape)
        assert all(row[0] is held for row in attach_rows(holding, decoded))


def test_an_instance_twice_in_a_result_is_rebuilt_as_one(session: Session) -> None:
    """A plain class's rows take the flat layout, unless one instance is in two rows: it stays one instance."""
    session.add_all([Plain(id=1, name="a"), Plain(id=2, name="b")])
    session.commit()
    one, two = session.execute(select(Plain).order_by(Plain.id)).scalars().all()
    codec = RowCodec(Plain)
    assert codec.encode_rows(["Plain"], [(one,), (two,)])[0] == "F"
    payload = codec.encode_rows(["Plain"], [(one,), (two,), (one,)])
    _, built = codec.decode_rows(_wire(payload))
    assert [copy.name for (copy,) in built] == ["a", "b", "a"]
    assert built[0][0] is built[2][0], "as the query returned it: the same instance"
    assert built[0][0] is not built[1][0]


def test_rows_that_do_not_fit_their_keys_are_refused(session: Session) -> None:
    """Entries of an unnamed entity written with ``Result.keys()`` (which leaves ``None`` out) are a miss."""
    codec = RowCodec(Parent)
    parent = session.execute(select(Parent)).scalars().first()
    with pytest.raises(Uncacheable):
        codec.encode_rows([], [(parent,)])
    with pytest.raises(Uncacheable):
        codec.encode_rows(["n"], [(parent, 1)])
    flat = _wire(codec.encode_rows([None], [(parent,)]))
    assert codec.decode_rows(flat)[0] == [None]
    with pytest.raises(Uncacheable):
        codec.decode_rows([flat[0], [], *flat[2:]])
    generic = _wire(codec.encode_rows([None, "n"], [(parent, 1)]))
    assert codec.decode_rows(generic)[0] == [None, "n"]
    with pytest.raises(Uncacheable):
        codec.decode_rows([generic[0], ["n"], *generic[2:]])
    assert codec.decode_rows(_wire(codec.encode_rows([None, "n"], []))) == ([None, "n"], [])
