"""A string longer than its column's length has no fine token: the database may store it cut (PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from litestar_alchemy_kit.orm.finetags import value_token

_TABLE = Table(
    "ft_len",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("bounded", String(4)),
    Column("unbounded", String()),
    Column("text", Text()),
)


def test_a_string_within_the_length_has_its_token() -> None:
    assert value_token(_TABLE.c.bounded, "acme") == "sacme"
    assert value_token(_TABLE.c.bounded, "ab") == "sab"


def test_a_string_over_the_length_has_none() -> None:
    # PostgreSQL stores 'acme  ' in a VARCHAR(4) as 'acme': a token of the sent value would name another partition
    assert value_token(_TABLE.c.bounded, "acme  ") is None
    assert value_token(_TABLE.c.bounded, "acmes") is None


def test_an_unbounded_string_always_has_its_token() -> None:
    long = "x" * 10_000
    assert value_token(_TABLE.c.unbounded, long) == f"s{long}"
    assert value_token(_TABLE.c.text, "acme  ") == "sacme  "
