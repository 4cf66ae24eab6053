"""The get(pk) shortcut's key part: one rendering per key value, no two values sharing it."""

from __future__ import annotations

import uuid

from litestar_alchemy_kit.repository._async import _fast_pk, _pk_token


class SubUUID(uuid.UUID):
    """Stands in for drivers' UUID subclasses (asyncpg returns one)."""


def test_tokens_are_type_tagged_and_canonical() -> None:
    value = uuid.uuid4()
    assert _pk_token(1) != _pk_token("1")
    assert _pk_token(value) == _pk_token(SubUUID(str(value))) == f"u{value.hex}"
    assert _pk_token(value) != _pk_token(value.hex)


def test_only_scalars_with_one_rendering_take_the_shortcut() -> None:
    assert _fast_pk(1)
    assert _fast_pk("a")
    assert _fast_pk(SubUUID(int=5))
    assert not _fast_pk(True)
    assert not _fast_pk((1, 2))
    assert not _fast_pk({"id": 1})
    assert not _fast_pk(1.5)


def test_memoized_entry_keys_never_merge_equal_looking_scopes() -> None:
    from litestar.stores.memory import MemoryStore

    from litestar_alchemy_kit.cache import AsyncCache
    from litestar_alchemy_kit.cache.memo import entry_key

    cache = AsyncCache(MemoryStore(), namespace="memo")
    keys = set()
    for scope in [(1,), (True,), (1.0,), ("1",), ()]:
        token = cache.key("orm", "", scope)
        first = entry_key(cache, "orm", "fp", scope, token)
        assert entry_key(cache, "orm", "fp", scope, token) == first == cache.key("orm", "fp", scope)
        keys.add(first)
    assert len(keys) == 5
    other = AsyncCache(MemoryStore(), namespace="other")
    assert entry_key(other, "orm", "fp", (), other.key("orm", "", ())) != entry_key(
        cache, "orm", "fp", (), cache.key("orm", "", ())
    )
