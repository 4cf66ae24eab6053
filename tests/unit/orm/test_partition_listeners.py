"""The partition reads listen to the writes of tenant-owned mappers only.

AA's ``upsert_many`` takes its ORM path for a mapper with insert or update listeners: listening to every
mapper would turn every model's native upserts into unit-of-work writes.
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, configure_mappers, mapped_column

from litestar_alchemy_kit.orm import install_listeners, tenant_column


class _Base(DeclarativeBase):
    pass


class _Plain(_Base):
    __tablename__ = "lak_listeners_plain"

    id: Mapped[int] = mapped_column(primary_key=True)


class _Owned(_Base):
    __tablename__ = "lak_listeners_owned"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()


def test_only_tenant_owned_mappers_get_write_listeners() -> None:
    configure_mappers()
    install_listeners()

    class Later(_Base):  # configured after the listeners were installed
        __tablename__ = "lak_listeners_later"

        id: Mapped[int] = mapped_column(primary_key=True)
        tenant: Mapped[int] = tenant_column()

    configure_mappers()
    for model in (_Owned, Later):
        mapper = inspect(model)
        assert mapper.dispatch.before_update
        assert mapper.dispatch.after_update
        assert mapper.dispatch.before_delete
    plain = inspect(_Plain)
    assert not plain.dispatch.before_insert
    assert not plain.dispatch.after_insert
    assert not plain.dispatch.before_update
    assert not plain.dispatch.after_update
