"""Attaching decoded cache rows to a session: what a query without SQL would return.

Pure ORM behaviour (no store involved): SQLite in memory, rows encoded and decoded by the codec as a
cache round trip would.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, lazyload, mapped_column, relationship
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
