"""One table of wire-format versions: a change moves every entry key, so old entries simply miss."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from litestar.stores.memory import MemoryStore

from litestar_alchemy_kit import formats
from litestar_alchemy_kit.cache import MISS, AsyncCache
from litestar_alchemy_kit.canonical import canonical_text


def _bumped(name: str) -> MappingProxyType[str, int]:
    table = dict(formats.WIRE_FORMATS)
    table[name] += 1
    return MappingProxyType(table)


@pytest.mark.parametrize("name", sorted(formats.WIRE_FORMATS))
async def test_a_format_change_makes_old_entries_miss_while_tags_stay_shared(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    old = AsyncCache(store, "ns")
    key = old.key("k", "fingerprint", ("tenant",))
    await old.set(key, {"v": 1}, await old.versions(["t"]))
    assert await old.get(key, ["t"]) == {"v": 1}

    # What a new release with one format bumped does against the same store.
    monkeypatch.setattr(formats, "WIRE_FORMATS", _bumped(name))
    new = AsyncCache(store, "ns")
    new_key = new.key("k", "fingerprint", ("tenant",))
    assert new_key != key
    assert await new.get(new_key, ["t"]) is MISS
    await new.set(new_key, {"v": 2}, await new.versions(["t"]))
    assert await new.get(new_key, ["t"]) == {"v": 2}

    # Invalidation still reaches both versions during a rolling deploy.
    assert await new.bump(["t"])
    assert await old.get(key, ["t"]) is MISS
    await old.close()
    await new.close()


def test_the_format_token_follows_every_version(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = {formats.format_token()}
    for name in formats.WIRE_FORMATS:
        with monkeypatch.context() as patch:
            patch.setattr(formats, "WIRE_FORMATS", _bumped(name))
            tokens.add(formats.format_token())
    assert len(tokens) == len(formats.WIRE_FORMATS) + 1


def test_every_format_label_names_its_version() -> None:
    assert formats.wire_format("statement") == f"lak-statement-v{formats.WIRE_FORMATS['statement']}"
    with pytest.raises(KeyError):
        formats.wire_format("unknown")


def test_canonical_text_is_the_one_encoder_of_keys() -> None:
    # The same value gives the same text wherever the kit encodes it; distinct types never meet.
    assert canonical_text(("a", 1)) != canonical_text(("a", "1"))
    assert canonical_text([1]) != canonical_text((1,))
