"""Value codecs and the entry envelope stored under every key."""

from __future__ import annotations

from typing import Any, Final, Protocol, runtime_checkable

import msgspec

from litestar_alchemy_kit.formats import WIRE_FORMATS

__all__ = ("FORMAT", "Codec", "Entry", "MsgspecCodec", "decode_entry", "encode_entry")

FORMAT: Final = WIRE_FORMATS["cache-entry"]


@runtime_checkable
class Codec(Protocol):
    """Turns values into bytes and back. ``name`` identifies the wire format (stored in entries)."""

    name: str

    def encode(self, value: Any) -> bytes:
        """Encode ``value``; may raise for unsupported values (the cache then skips the set)."""
        ...

    def decode(self, data: bytes) -> Any:
        """Decode bytes produced by :meth:`encode`; may raise (the cache then treats the entry as a miss)."""
        ...


class MsgspecCodec:
    """msgspec MessagePack: dict/list/str/int/float/bytes/None/datetime/UUID/Decimal/Structs...

    Args:
        type: decode into this type (``Any`` gives builtins; UUIDs and Decimals come back as ``str`` then).
        name: the wire-format name; change it when ``type`` changes shape incompatibly.
    """

    __slots__ = ("_decoder", "_encoder", "name")

    def __init__(self, type: Any = Any, name: str = "msgpack") -> None:  # noqa: A002
        self.name = name
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(type)

    def encode(self, value: Any) -> bytes:
        """MessagePack bytes of ``value``."""
        return self._encoder.encode(value)

    def decode(self, data: bytes) -> Any:
        """The value (of the configured ``type``) encoded in ``data``."""
        return self._decoder.decode(data)


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """What is stored under an entry key.

    Attributes:
        format: envelope format number.
        codec: the codec name the payload was encoded with.
        schema: the caller's schema fingerprint.
        namespace_version: the namespace-wide version token (``clear`` bumps it).
        tags: tag name -> version token the value was computed under.
        fresh_until: wall-clock time after which the entry is stale, or ``None``.
        payload: the encoded value.
    """

    format: int
    codec: str
    schema: str
    namespace_version: str
    tags: dict[str, str]
    fresh_until: float | None
    payload: bytes


_entry_encoder = msgspec.msgpack.Encoder()
_entry_decoder = msgspec.msgpack.Decoder(Entry)


def encode_entry(entry: Entry) -> bytes:
    """Serialize an envelope."""
    return _entry_encoder.encode(entry)


def decode_entry(raw: bytes) -> Entry | None:
    """Parse an envelope; ``None`` when the bytes are not a current-format envelope."""
    try:
        entry = _entry_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return entry if entry.format == FORMAT else None
