"""Response cache keys, scopes and ETags: injective encodings, scope rules, ETags that follow the versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from litestar_alchemy_kit.response_cache import ANONYMOUS, Caller
from litestar_alchemy_kit.response_cache.engine import _matches
from litestar_alchemy_kit.response_cache.keys import RouteKeys, base_url_part, etag, path_part, scope_part

KEYS = RouteKeys(("X-Api-Version",), ("theme", "Theme"))
parts = st.binary(max_size=12)
header_values = st.dictionaries(st.sampled_from(KEYS.vary), st.lists(parts, min_size=1, max_size=2), max_size=3)
# no cookies and none of the route's are one input: ``{}`` is drawn as ``None``
cookie_values = st.dictionaries(st.sampled_from(["theme", "Theme"]), st.text(max_size=4), max_size=2).map(
    lambda cookies: cookies or None
)
base_urls = st.builds(
    base_url_part,
    st.fixed_dictionaries(
        {"scheme": st.sampled_from(["http", "https"]), "root_path": st.text(max_size=3)},
        optional={"server": st.tuples(st.text(max_size=3), st.none() | st.integers(0, 9))},
    ),
    st.none() | parts,
)
requests = st.tuples(
    parts,
    parts,
    header_values,
    cookie_values,
    base_urls,
    st.sampled_from([b"s6:public", b"s9:anonymous", b"x"]),
)


def _print(path: bytes, query: bytes, headers: dict[bytes, list[bytes]] | None = None) -> bytes:
    return KEYS.fingerprint(b"GET", path, query, headers or {}, None, b"", b"")


def test_vary_is_the_negotiated_headers_and_the_configured_ones_sorted() -> None:
    assert KEYS.vary == (b"accept", b"accept-encoding", b"accept-language", b"x-api-version")
    # the response varies on cookies: a downstream cache can only tell them apart by the whole header
    assert KEYS.vary_header == b"Accept, Accept-Encoding, Accept-Language, Cookie, X-Api-Version"
    assert KEYS.cookies == ("Theme", "theme")
    assert RouteKeys(()).vary_header == b"Accept, Accept-Encoding, Accept-Language"


@given(requests, requests)
def test_fingerprints_are_injective(first: tuple[object, ...], second: tuple[object, ...]) -> None:
    a = KEYS.fingerprint(b"GET", *first)  # type: ignore[arg-type]
    b = KEYS.fingerprint(b"GET", *second)  # type: ignore[arg-type]
    assert (a == b) == (first == second)


def test_only_the_routes_cookies_count() -> None:
    assert KEYS.fingerprint(b"GET", b"/", b"", {}, {"sid": "1", "theme": "dark"}, b"", b"") == KEYS.fingerprint(
        b"GET", b"/", b"", {}, {"sid": "2", "theme": "dark"}, b"", b""
    )
    assert KEYS.fingerprint(b"GET", b"/", b"", {}, {"theme": "dark"}, b"", b"") != KEYS.fingerprint(
        b"GET", b"/", b"", {}, {"theme": "light"}, b"", b""
    )
    assert KEYS.fingerprint(b"GET", b"/", b"", {}, {"theme": ""}, b"", b"") != KEYS.fingerprint(
        b"GET", b"/", b"", {}, None, b"", b""
    )


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"scheme": "http", "server": ("a", 80)}, {"scheme": "https", "server": ("a", 80)}),
        ({"scheme": "http", "server": ("a", 80)}, {"scheme": "http", "server": ("b", 80)}),
        ({"scheme": "http", "server": ("a", 80)}, {"scheme": "http", "server": ("a", 81)}),
        ({"scheme": "http", "root_path": "/v1"}, {"scheme": "http", "root_path": "/v2"}),
        ({"scheme": "http", "root_path": "/v1"}, {"scheme": "http", "root_path": "/v1", "app_root_path": "/v2"}),
    ],
)
def test_the_base_url_follows_scheme_server_and_root_path(one: dict[str, object], other: dict[str, object]) -> None:
    assert base_url_part(one, None) != base_url_part(other, None)  # type: ignore[arg-type]


def test_the_host_header_wins_over_the_server_as_in_litestar() -> None:
    scope = {"scheme": "http", "server": ("10.0.0.1", 8000)}
    acme, globex = base_url_part(scope, b"acme.example.com"), base_url_part(scope, b"globex.example.com")  # type: ignore[arg-type]
    assert acme != globex
    assert acme == base_url_part({**scope, "server": ("10.0.0.2", 8000)}, b"acme.example.com")  # type: ignore[arg-type]
    # "a:80" sent by the client is not the server ("a", 80): Litestar's base URLs differ (http://a:80, http://a)
    assert base_url_part(scope, b"a:80") != base_url_part({"scheme": "http", "server": ("a", 80)}, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw_path", "path", "part"),
    [
        (b"/files/report%3Fdraft", "/files/report?draft", b"/files/report%3Fdraft"),
        (b"/files/a?b=1", "/files/a", b"/files/a"),  # a query sent in raw_path too
        (None, "/files/report?draft", b"/files/report%3Fdraft"),  # no raw_path: path encoded again
        (None, "/files/100%", b"/files/100%25"),
        (None, "/items/a b/caf\u00e9", b"/items/a%20b/caf%C3%A9"),
        (None, "/a/b:c@d!$&'()*+,;=-._~", b"/a/b:c@d!$&'()*+,;=-._~"),  # what a client sends unencoded stays
        (b"", "/plain", b"/plain"),
    ],
)
def test_path_part(raw_path: bytes | None, path: str, part: bytes) -> None:
    scope: dict[str, object] = {"path": path}
    if raw_path is not None:
        scope["raw_path"] = raw_path
    assert path_part(scope) == part  # type: ignore[arg-type]


@given(st.text(max_size=8), st.text(max_size=8))
def test_decoded_paths_without_raw_path_never_collide(one: str, other: str) -> None:
    assert (path_part({"path": one}) == path_part({"path": other})) == (one == other)  # type: ignore[arg-type, typeddict-item]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ((b"/items/ab", b"c=1"), (b"/items/abc=1", b"")),  # Litestar's collision
        ((b"/a", b"b=1&c=2"), (b"/a", b"c=2&b=1")),  # order is kept: a miss, never a wrong hit
        ((b"/a?b", b""), (b"/a", b"b")),
    ],
)
def test_path_and_query_are_framed_apart(one: tuple[bytes, bytes], other: tuple[bytes, bytes]) -> None:
    assert _print(*one) != _print(*other)


def test_a_header_value_holding_a_separator_does_not_collide() -> None:
    split = {b"accept": [b"a", b"b"]}
    joined = {b"accept": [b"a,b"]}
    missing: dict[bytes, list[bytes]] = {}
    empty = {b"accept": [b""]}
    prints = {_print(b"/", b"", headers) for headers in (split, joined, missing, empty)}
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
