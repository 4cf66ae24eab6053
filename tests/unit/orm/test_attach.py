"""Attaching decoded cache rows to a session: what a query without SQL would return.

Pure ORM behaviour (no store involved): SQLite in memory, rows encoded and decoded by the codec as a
cache round trip would.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sqlalchemy import JSON, ForeignKey, String, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, lazyload, mapped_column, object_session, relationship
from sqlalchemy.orm.attributes import set_committed_value

from litestar_alchemy_kit.orm.attach import attach_rows
from litestar_alchemy_kit.orm.codec import RowCodec


class Base(DeclarativeBase):
    pass


class Folder(Base):
    __tablename__ = "attach_folder"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    files: Mapped[list[File]] = relationship(back_populates="folder", lazy="selectin", order_by="File.id")


class File(Base):
    """Loads its folder eagerly: a cached folder's files point back at it (a cycle in the entry)."""

    __tablename__ = "attach_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    folder_id: Mapped[int] = mapped_column(ForeignKey("attach_folder.id"))
    folder: Mapped[Folder] = relationship(back_populates="files", lazy="joined")


@pytest.fixture
def engine() -> Any:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Folder(id=1, name="f", files=[File(id=1, name="a"), File(id=2, name="b")]))
        session.commit()
    yield engine
    engine.dispose()


def _cached(engine: Any, statement: Any) -> Any:
    """The payload a cache would hold for ``statement``'s rows (after a msgpack round trip)."""
    codec = RowCodec(Folder)
    with Session(engine) as session:
        rows = [tuple(row) for row in session.execute(statement).all()]
        payload = codec.encode_rows(["Folder"], rows)
    return codec, msgspec.msgpack.decode(msgspec.msgpack.encode(payload))


def test_related_rows_the_session_holds_are_its_own_even_through_a_cycle(engine: Any) -> None:
    """The session holds a file the entry also carries (below a folder it does not hold): no error, one instance."""
    codec, payload = _cached(engine, select(Folder))
    with Session(engine) as session:
        held = session.get(File, 2, options=[lazyload(File.folder)])
        assert held is not None
        ((folder,),) = attach_rows(session, codec.decode_rows(payload)[1])
        assert folder in session
        assert folder.files[1] is held, "the session's own instance of the row"
        assert folder.files[0].folder is folder
        assert all(file in session for file in folder.files)
        assert not session.dirty
        assert not session.new


def test_a_refreshing_read_overwrites_what_the_session_holds(engine: Any) -> None:
    """``populate_existing`` (or a mapper's ``always_refresh``): the session's instances take the entry's values."""
    codec, payload = _cached(engine, select(Folder))
    with Session(engine) as session:
        folder = session.get(Folder, 1)
        assert folder is not None
        file = folder.files[0]
        set_committed_value(folder, "name", "stale")  # loaded before another process committed, say
        set_committed_value(file, "name", "stale")
        ((kept,),) = attach_rows(session, codec.decode_rows(payload)[1])
        assert kept is folder
        assert (folder.name, file.name) == ("stale", "stale"), "without populate_existing: loaded values stay"
        ((refreshed,),) = attach_rows(session, codec.decode_rows(payload)[1], refresh=True)
        assert refreshed is folder
        assert folder.files[0] is file
        assert (folder.name, file.name) == ("f", "a"), "as the query with populate_existing returns them"
        assert not session.dirty


class Doc(Base):
    __tablename__ = "attach_doc"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON())


def _cached_docs(engine: Any) -> tuple[RowCodec, Any]:
    codec = RowCodec(Doc)
    with Session(engine) as session:
        session.add(Doc(id=1, body={"n": 1}))
        session.commit()
        rows = [tuple(row) for row in session.execute(select(Doc)).all()]
        payload = codec.encode_rows(["Doc"], rows)
    return codec, msgspec.msgpack.decode(msgspec.msgpack.encode(payload))


@pytest.mark.parametrize("shape", ["alone", "beside a scalar"])
def test_an_attached_instance_is_the_sessions_and_its_changes_flush(engine: Any, shape: str) -> None:
    """With no attach listener (the fast path): the identity map holds it, a change is tracked and flushed.

    Rows of one instance each are attached in one loop, others cell by cell: both alike.
    """
    codec, payload = _cached_docs(engine)
    with Session(engine) as session:
        rows = codec.decode_rows(payload)[1]
        ((doc, *_),) = attach_rows(session, rows if shape == "alone" else [(*row, 7) for row in rows])
        assert doc in session
        assert session.get(Doc, 1) is doc, "the identity map answers with the attached instance"
        assert object_session(doc) is session
        session.expire(doc, ["body"])
        assert doc.body == {"n": 1}, "an expired attribute loads through the session"
        assert not session.dirty
        doc.body = {"n": 2}
        assert doc in session.dirty
        session.commit()
    with Session(engine) as session:
        assert session.get_one(Doc, 1).body == {"n": 2}


def test_attach_announces_the_instance_to_session_listeners(engine: Any) -> None:
    """A session with attach listeners sees what ``Session.add`` of a detached instance announces."""
    codec, payload = _cached_docs(engine)
    with Session(engine) as session:
        seen: list[tuple[str, object]] = []
        event.listen(session, "before_attach", lambda _s, inst: seen.append(("before_attach", inst)))
        event.listen(session, "after_attach", lambda _s, inst: seen.append(("after_attach", inst)))
        event.listen(session, "detached_to_persistent", lambda _s, inst: seen.append(("detached_to_persistent", inst)))
        ((doc,),) = attach_rows(session, codec.decode_rows(payload)[1])
        assert seen == [("before_attach", doc), ("after_attach", doc), ("detached_to_persistent", doc)]


def test_attach_fires_the_classs_load_event_where_it_has_listeners(engine: Any) -> None:
    """As for a loaded row (Mutable types and other ``load`` listeners track the instance); ``context`` is None."""
    codec, payload = _cached_docs(engine)
    loaded: list[tuple[object, object]] = []

    def on_load(target: object, context: object) -> None:
        loaded.append((target, context))

    event.listen(Doc, "load", on_load)
    try:
        with Session(engine) as session:
            ((doc,),) = attach_rows(session, codec.decode_rows(payload)[1])
            assert loaded == [(doc, None)]
    finally:
        event.remove(Doc, "load", on_load)
