"""Writes bump the tags statement format 1 gave a table, where they differ: a rolling deploy stays read-after-commit.

Format 1 tagged a table by its schema-qualified name in its own case (``t:main.Legacy_Item``); format 2 by its
bare name in lower case (``t:legacy_item``). Entries of processes still on format 1 depend on the old tag, so
every write of this version bumps it too (coarse): a unit-of-work flush, a Core statement on a ``Table`` or a
``table()`` clause, and raw SQL naming the table (real SQLite databases).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import String, column, create_engine, table, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.cascades import name_tags, written_tags
from litestar_alchemy_kit.orm.dependencies import legacy_tags, table_tag
from litestar_alchemy_kit.repository import bind_cache
from tests.unit.orm._bumps import recording_cache

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine


class LegacyBase(DeclarativeBase):
    pass


class LegacyItem(LegacyBase):
    __tablename__ = "Legacy_Item"
    __table_args__ = {"schema": "main"}  # noqa: RUF012 - SQLAlchemy's declarative form

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[int] = tenant_column()


OLD = "t:main.Legacy_Item"
"""The tag format 1 gave ``LegacyItem``'s table."""


def test_legacy_tags_are_the_format_1_spellings_that_differ() -> None:
    assert legacy_tags("items") == frozenset()  # format 1 named a bare lower-case table alike
    assert legacy_tags("Items") == {"t:Items"}
    assert legacy_tags("items", "public") == {"t:public.items"}
    assert legacy_tags("A:b", "s%") == {"t:A%3Ab", "t:s%25.A%3Ab"}  # escaped as format 1 escaped them
    assert table_tag(LegacyItem.__table__) == "t:legacy_item"


def test_every_kind_of_write_names_the_old_tag() -> None:
    assert OLD in written_tags(LegacyItem.__table__)
    assert OLD in name_tags("Legacy_Item", "main")
    assert "t:Legacy_Item" in name_tags("Legacy_Item")
    assert not legacy_tags("legacy_item") & name_tags("legacy_item")


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path}/db.sqlite")
    LegacyBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("write", ["flush", "core_table", "core_clause", "raw_sql"])
def test_writes_bump_the_format_1_tag(engine: Engine, write: str) -> None:
    cache, bumped = recording_cache()
    sessions = sessionmaker(engine, expire_on_commit=False)
    bind_cache(sessions, cache)
    with sessions() as session:
        session.add(LegacyItem(id=1, name="a", tenant=1))
        session.commit()
    bumped.clear()
    with sessions() as session:
        if write == "flush":
            item = session.get(LegacyItem, 1)
            assert item is not None
            item.name = "b"
        elif write == "core_table":
            session.execute(update(LegacyItem.__table__).values(name="b"))
        elif write == "core_clause":
            session.execute(update(table("Legacy_Item", column("name"), schema="main")).values(name="b"))
        else:
            session.execute(text("UPDATE main.\"Legacy_Item\" SET name = 'b'"))
        session.commit()
    assert any(OLD in tags for tags in bumped), bumped
