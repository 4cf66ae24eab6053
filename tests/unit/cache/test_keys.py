"""Keys: injective encoding, bounded length, stable across processes and hash seeds."""

from __future__ import annotations

import datetime
import decimal
import enum
import os
import subprocess
import sys
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litestar_alchemy_kit.cache.keys import KeyBuilder
from litestar_alchemy_kit.canonical import canonical_bytes

ADVERSARIAL = ["", ":", "*", "a:b", "a", "b", "ns*", "ns:x", "\x00", "é", "e\u0301", "\ud800", "x" * 10_000, "[", "?"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    st.sampled_from(ADVERSARIAL),
    st.uuids(),
    st.decimals(allow_nan=False),
    st.datetimes(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def _normal(obj: object) -> object:
    """What must count as equal for keys: equal type and value (a list is not a tuple)."""
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_normal(item) for item in obj))
    if isinstance(obj, dict):
        return ("map", tuple(sorted((repr(_normal(k)), repr(_normal(v))) for k, v in obj.items())))
    if isinstance(obj, float):
        return ("float", obj.hex())
    return (type(obj).__name__, repr(obj))


@settings(max_examples=400, deadline=None)
@given(values, values)
def test_distinct_inputs_never_share_an_encoding(a: object, b: object) -> None:
    if _normal(a) != _normal(b):
        assert canonical_bytes(a) != canonical_bytes(b)
    else:
        assert canonical_bytes(a) == canonical_bytes(b)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(ADVERSARIAL) | st.text(), max_size=4),
    st.sampled_from(ADVERSARIAL) | st.text() | st.binary(),
)
def test_keys_are_bounded_and_namespaced(scope: list[str], fingerprint: str | bytes) -> None:
    key = KeyBuilder("app").entry("list", fingerprint, scope)
    assert key.startswith("app:e:list:")
    assert len(key) <= 200
    assert all(char not in key for char in "*?[] ")


def test_adversarial_pairs_differ() -> None:
    keys = KeyBuilder("ns")
    pairs = [
        (("a", "b"), ("a:b",)),
        (("a:", "b"), ("a", ":b")),
        ((1,), ("1",)),
        ((1,), (1.0,)),
        ((True,), (1,)),
        ((b"x",), ("x",)),
        ((None,), ("None",)),
        ((uuid.UUID(int=1),), (str(uuid.UUID(int=1)),)),
        ((decimal.Decimal("1.0"),), (decimal.Decimal("1.00"),)),
        ((datetime.datetime(2024, 1, 1),), (datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),)),  # noqa: DTZ001 - naive on purpose
        ((["a", "b"],), (["ab"],)),
        (("a", "b"), ("asb",)),  # frames carry their length: "s" + "a" + "s" + "b" is not one string "asb"
        (("as", "b"), ("a", "sb")),  # the same count of parts: only the lengths tell them apart
        ((["x"], "y"), (["xsy"],)),
        (("é",), ("e\u0301",)),
    ]
    for left, right in pairs:
        assert keys.entry("k", "f", left) != keys.entry("k", "f", right), (left, right)
    assert keys.entry("k", "f") != keys.entry("k", b"f")
    assert keys.entry("k", "f") != keys.entry("k2", "f")
    assert KeyBuilder("ns").entry("k", "f") != KeyBuilder("nsx").entry("k", "f")
    assert keys.tag("users") != keys.tag("users ")


def test_enums_and_sets_are_canonical() -> None:
    class Color(enum.Enum):
        RED = "red"

    assert canonical_bytes(Color.RED) != canonical_bytes("red")
    assert canonical_bytes({3, 1, 2}) == canonical_bytes({2, 3, 1})
    assert canonical_bytes({"b": 1, "a": 2}) == canonical_bytes({"a": 2, "b": 1})


def test_unsupported_values_and_names_raise_clear_errors() -> None:
    keys = KeyBuilder("ns")
    with pytest.raises(TypeError, match="cannot build a cache key from a value of type 'object'"):
        keys.entry("k", "f", (object(),))
    with pytest.raises(TypeError, match="fingerprint must be str or bytes"):
        keys.entry("k", 1)  # type: ignore[arg-type]
    for bad in ("", "a b", "a:b", "a*", "x" * 65):
        with pytest.raises(ValueError, match="invalid cache"):
            KeyBuilder(bad)
        with pytest.raises(ValueError, match="invalid cache kind"):
            keys.entry(bad, "f")


def test_keys_are_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "import uuid, datetime; from litestar_alchemy_kit.cache.keys import KeyBuilder; "
        "k = KeyBuilder('app'); "
        "print(k.entry('list', 'select 1', ('tenant', 7, {'b', 'a'}, {'x': 1.5}, uuid.UUID(int=5), datetime.date(2024, 1, 2))), k.tag('users'))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outputs) == 1
    assert outputs.pop().startswith("app:e:list:")


names = st.text(alphabet="abcXYZ019_.-", min_size=1, max_size=64)


@settings(max_examples=200, deadline=None)
@given(names, names, st.lists(values, max_size=3), st.text() | st.binary())
def test_every_key_is_bounded_whatever_the_names_and_inputs(
    namespace: str, kind: str, scope: list[object], fingerprint: str | bytes
) -> None:
    keys = KeyBuilder(namespace)
    entry = keys.entry(kind, fingerprint, scope)
    # namespace (64) + ":e:" + kind (64) + ":" + 40 hex digits
    assert len(entry) <= 172
    assert entry.startswith(f"{namespace}:e:{kind}:")
    assert len(keys.tag(str(fingerprint))) <= 64 + 3 + 40
    assert len(keys.lease(entry)) <= 172


def test_lease_keys_keep_the_kind() -> None:
    keys = KeyBuilder("ns")
    row, rows = keys.entry("row", "q"), keys.entry("rows", "q")  # one fingerprint, two kinds
    assert keys.lease(row) != keys.lease(rows)
    assert keys.lease(row).startswith("ns:l:")


class _Tag(str):
    __slots__ = ()


@given(st.one_of(st.text(), st.sampled_from(ADVERSARIAL)))
def test_tag_keys_are_the_digest_of_the_canonical_encoding(tag: str) -> None:
    """The inline encoding of a plain str tag is byte for byte canonical_bytes(): keys never change across versions."""
    from litestar_alchemy_kit.cache.keys import digest

    keys = KeyBuilder("ns")
    assert keys.tag(tag) == f"ns:t:{digest(canonical_bytes(tag))}"
    # a str subclass keeps its own (distinct) canonical encoding
    assert KeyBuilder("ns").tag(_Tag(tag)) == f"ns:t:{digest(canonical_bytes(_Tag(tag)))}"


def test_memoized_scope_tokens_are_each_scopes_own() -> None:
    """Scope tokens stand for scopes in memo keys: two scopes never share one, memoized or not."""
    from litestar.stores.memory import MemoryStore

    from litestar_alchemy_kit.cache import AsyncCache
    from litestar_alchemy_kit.cache.memo import scope_token

    cache = AsyncCache(MemoryStore(), namespace=f"tok{uuid.uuid4().hex[:8]}")
    tenant = uuid.UUID(int=5)
    scopes: list[tuple[object, ...]] = [
        (1,),
        ("1",),
        (2,),
        (("tenant", 1),),
        (("tenant", 2),),
        (("tenant", "1"),),
        (("tenant", tenant),),
        (("tenant", 1), "user-1"),  # a tenant's users share its statements: only the token tells them apart
        (("tenant", 1), "user-2"),
        (("tenant", 1), 1),
        (("tenant", 1), (1,)),
        ((1, 2),),
        ((2, 1),),
        (1, 2),
        (True,),  # not memoized (bool is not a scalar scope type), never 1's token
        (("tenant", True),),
    ]
    for _ in range(2):  # computed, then from the memo
        tokens = [scope_token(cache, "orm", scope) for scope in scopes]
        assert tokens == [cache.key("orm", "", scope) for scope in scopes]
        assert len(set(tokens)) == len(scopes)
