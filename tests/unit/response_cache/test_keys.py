"""Response cache keys, scopes and ETags: injective encodings, scope rules, ETags that follow the versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from litestar_alchemy_kit.response_cache import ANONYMOUS, Caller
from litestar_alchemy_kit.response_cache.engine import _matches
from litestar_alchemy_kit.response_cache.keys import RouteKeys, etag, scope_part

KEYS = RouteKeys(("X-Api-Version",))
parts = st.binary(max_size=12)
header_values = st.dictionaries(st.sampled_from(KEYS.vary), st.lists(parts, min_size=1, max_size=2), max_size=3)
requests = st.tuples(parts, parts, header_values, st.sampled_from([b"s6:public", b"s9:anonymous", b"x"]))


def test_vary_is_the_negotiated_headers_and_the_configured_ones_sorted() -> None:
    assert KEYS.vary == (b"accept", b"accept-encoding", b"accept-language", b"x-api-version")
    assert KEYS.vary_header == b"Accept, Accept-Encoding, Accept-Language, X-Api-Version"


@given(requests, requests)
def test_fingerprints_are_injective(first: tuple[bytes, ...], second: tuple[bytes, ...]) -> None:
    a = KEYS.fingerprint(b"GET", *first)  # type: ignore[arg-type]
    b = KEYS.fingerprint(b"GET", *second)  # type: ignore[arg-type]
    assert (a == b) == (first == second)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ((b"/items/ab", b"c=1"), (b"/items/abc=1", b"")),  # Litestar's collision
        ((b"/a", b"b=1&c=2"), (b"/a", b"c=2&b=1")),  # order is kept: a miss, never a wrong hit
        ((b"/a?b", b""), (b"/a", b"b")),
    ],
)
def test_path_and_query_are_framed_apart(one: tuple[bytes, bytes], other: tuple[bytes, bytes]) -> None:
    assert KEYS.fingerprint(b"GET", *one, {}, b"") != KEYS.fingerprint(b"GET", *other, {}, b"")


def test_a_header_value_holding_a_separator_does_not_collide() -> None:
    split = {b"accept": [b"a", b"b"]}
    joined = {b"accept": [b"a,b"]}
    missing: dict[bytes, list[bytes]] = {}
    empty = {b"accept": [b""]}
    prints = {KEYS.fingerprint(b"GET", b"/", b"", headers, b"") for headers in (split, joined, missing, empty)}
    assert len(prints) == 4


def test_scope_parts() -> None:
    alice, carol, bob = Caller("acme", "alice"), Caller("acme", "carol"), Caller("globex", "bob")
    assert scope_part("public", None) == scope_part("public", alice) == scope_part("public", ANONYMOUS)
    assert scope_part("tenant", alice) == scope_part("tenant", carol) != scope_part("tenant", bob)
    assert scope_part("user", alice) != scope_part("user", carol)
    assert scope_part(None, alice) == scope_part("user", alice)
    assert scope_part(None, ANONYMOUS) == scope_part("user", ANONYMOUS) != scope_part("public", ANONYMOUS)
    # the same subject in two tenants is two users
    assert scope_part("user", Caller("acme", "x")) != scope_part("user", Caller("globex", "x"))
    # a value cannot forge another scope's encoding
    assert scope_part("user", Caller(None, "public")) != scope_part("public", None)
    assert scope_part("tenant", Caller("a", None)) != scope_part("user", Caller(None, "a"))


@pytest.mark.parametrize(
    ("scope", "caller", "reason"),
    [
        ("tenant", None, "unidentified caller"),
        ("user", None, "unidentified caller"),
        (None, None, "unidentified caller"),
        ("tenant", ANONYMOUS, "tenant scope without a tenant"),
        ("tenant", Caller(None, "dave"), "tenant scope without a tenant"),
        ("user", Caller("acme", None), "user scope without a subject"),
        (None, Caller("acme", None), "user scope without a subject"),
    ],
)
def test_scopes_that_cannot_tell_callers_apart_build_no_key(scope: object, caller: Caller | None, reason: str) -> None:
    assert scope_part(scope, caller) == reason  # type: ignore[arg-type]


def test_etags_follow_key_namespace_tags_and_versions() -> None:
    base = etag("k", "n", {"t:a": "1", "t:b": "2"})
    assert base == etag("k", "n", {"t:b": "2", "t:a": "1"})
    assert base.startswith('W/"')
    assert (
        len(
            {
                base,
                etag("k2", "n", {"t:a": "1", "t:b": "2"}),
                etag("k", "n2", {"t:a": "1", "t:b": "2"}),
                etag("k", "n", {"t:a": "1", "t:b": "3"}),
                etag("k", "n", {"t:a": "1"}),
                etag("k", "n", {"t:a": "1", "t:c": "2"}),
            }
        )
        == 6
    )


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (b'W/"x"', True),
        (b'"x"', True),
        (b'"y", W/"x"', True),
        (b"*", True),
        (b'"y"', False),
        (b"", False),
        (b'W/"xx"', False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: bytes, matches: bool) -> None:
    assert _matches(header, b'W/"x"') is matches
