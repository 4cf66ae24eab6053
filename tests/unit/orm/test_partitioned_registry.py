"""Which tables some mapping of this process declares the tenant of (``partition.note_partitioned``).

A write through a mapping of such a table that does not declare it bumps the table's coarse tag
(``tests/integration/repository/test_partition_review18.py`` shows the stale read it prevents): the
registry must know the table as soon as its tenant mapping is configured, and as soon as a read proves
one of its partitions (a Core table's too).
"""

from __future__ import annotations

import gc
import uuid
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, configure_mappers, mapped_column

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.invalidation import install_listeners
from litestar_alchemy_kit.orm.partition import TENANT_INFO_KEY, declared_partitioned
from litestar_alchemy_kit.orm.statement import StatementInfo, analyze


def test_a_configured_mapping_declaring_the_tenant_is_recorded() -> None:
    install_listeners()  # what bind_cache() does: mappers configured from now on are watched
    name = f"pr_{uuid.uuid4().hex[:8]}"

    class Base(DeclarativeBase):
        pass

    # held: a registry keeps its classes weakly, and the cyclic GC may collect one nothing holds before it is configured
    owned: Any = type(
        "Owned",
        (Base,),
        {
            "__tablename__": name,
            "__annotations__": {"id": Mapped[int], "tenant": Mapped[int]},
            "id": mapped_column(primary_key=True),
            "tenant": tenant_column(),
        },
    )
    assert f"t:{name}" not in declared_partitioned()
    gc.collect()  # as the cyclic GC may at any allocation: the class must still be there to configure
    configure_mappers()
    assert owned.__mapper__.configured
    assert f"t:{name}" in declared_partitioned()


def test_a_read_proving_a_partition_of_a_core_table_records_it() -> None:
    name = f"pr_{uuid.uuid4().hex[:8]}"
    table = Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("tenant", Integer, info={TENANT_INFO_KEY: True}),
    )
    assert f"t:{name}" not in declared_partitioned()
    found = analyze(select(table).where(table.c.tenant == 3), dialect=sqlite.dialect())
    assert isinstance(found, StatementInfo)
    assert f"t:{name}:part=i3" in found.tags
    assert f"t:{name}" in declared_partitioned()
