"""The one canonical encoder: deterministic, injective text for any value a key or fingerprint holds.

Python's ``hash()`` and ``repr()`` are not usable for keys shared across processes: hashes are
salted per process and reprs may embed memory addresses. Every encoder here emits a
self-delimiting token (type tag + length where needed), so distinct inputs never produce the
same text and the same input produces the same text in every process. Cache keys, statement
fingerprints, schema fingerprints and tenant scope keys all use it; its format is
``canonical`` in :data:`litestar_alchemy_kit.formats.WIRE_FORMATS`.

It sits below every layer and imports nothing from the kit.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import ipaddress
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ("Unencodable", "canonical_bytes", "canonical_text", "encode_value", "qualified_name")


class Unencodable(TypeError):  # noqa: N818 - reads as what it is: "this value is unencodable"
    """A value has no deterministic encoding: a statement bypasses the cache, a key is refused.

    Attributes:
        value_type: the type that has no encoding (possibly nested inside the value given), or
            ``None`` when the reason is not a value's type.
    """

    def __init__(self, what: type[Any] | str) -> None:
        self.value_type = what if isinstance(what, type) else None
        message = (
            f"a value of type {what.__qualname__!r} has no deterministic encoding" if isinstance(what, type) else what
        )
        super().__init__(message)


def qualified_name(obj: Any) -> str:
    """Return ``module:qualname`` of a class or function, stable across processes.

    Args:
        obj: A class, function or builtin.

    Returns:
        The qualified name.
    """
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def _str(value: str, out: list[str]) -> None:
    out.append(f"s{len(value)}:")
    out.append(value)


def _bytes(value: bytes | bytearray | memoryview, out: list[str]) -> None:
    data = bytes(value)
    out.append(f"y{len(data)}:{data.hex()}")


def _int(value: int, out: list[str]) -> None:
    out.append(f"i{value};")


def _bool(value: bool, out: list[str]) -> None:
    out.append("T" if value else "F")


def _float(value: float, out: list[str]) -> None:
    out.append(f"f{value!r};")


def _none(_: None, out: list[str]) -> None:
    out.append("N")


def _decimal(value: decimal.Decimal, out: list[str]) -> None:
    # str() keeps the exponent: Decimal("1.0") and Decimal("1.00") stay distinct, which only costs a miss
    out.append(f"d{value};")


def _tz(value: datetime.tzinfo | None, out: list[str]) -> None:
    if value is None:
        out.append("z")
    else:
        _str(f"{qualified_name(type(value))}|{value}", out)


def _datetime(value: datetime.datetime, out: list[str]) -> None:
    out.append(f"D{value.isoformat()}|{value.fold};")
    _tz(value.tzinfo, out)


def _date(value: datetime.date, out: list[str]) -> None:
    out.append(f"a{value.isoformat()};")


def _time(value: datetime.time, out: list[str]) -> None:
    out.append(f"t{value.isoformat()}|{value.fold};")
    _tz(value.tzinfo, out)


def _timedelta(value: datetime.timedelta, out: list[str]) -> None:
    out.append(f"e{value.days},{value.seconds},{value.microseconds};")


def _uuid(value: uuid.UUID, out: list[str]) -> None:
    out.append(f"u{value.hex}")


def _sequence(value: list[Any] | tuple[Any, ...], out: list[str]) -> None:
    out.append(f"{'l' if isinstance(value, list) else 'p'}{len(value)}:")
    for item in value:
        encode_value(item, out)


def _sorted_encodings(items: Any) -> list[str]:
    encoded: list[str] = []
    for item in items:
        parts: list[str] = []
        encode_value(item, parts)
        encoded.append("".join(parts))
    encoded.sort()
    return encoded


def _set(value: set[Any] | frozenset[Any], out: list[str]) -> None:
    out.append(f"S{len(value)}:")
    out.extend(_sorted_encodings(value))


def _dict(value: dict[Any, Any], out: list[str]) -> None:
    out.append(f"m{len(value)}:")
    out.extend(_sorted_encodings(value.items()))


def _ip(value: Any, out: list[str]) -> None:
    out.append(f"I{qualified_name(type(value))}|{value};")


_ENCODERS: dict[type[Any], Callable[[Any, list[str]], None]] = {
    str: _str,
    int: _int,
    bool: _bool,
    float: _float,
    type(None): _none,
    bytes: _bytes,
    bytearray: _bytes,
    memoryview: _bytes,
    decimal.Decimal: _decimal,
    datetime.datetime: _datetime,
    datetime.date: _date,
    datetime.time: _time,
    datetime.timedelta: _timedelta,
    uuid.UUID: _uuid,
    list: _sequence,
    tuple: _sequence,
    set: _set,
    frozenset: _set,
    dict: _dict,
    ipaddress.IPv4Address: _ip,
    ipaddress.IPv6Address: _ip,
    ipaddress.IPv4Network: _ip,
    ipaddress.IPv6Network: _ip,
    ipaddress.IPv4Interface: _ip,
    ipaddress.IPv6Interface: _ip,
}


def encode_value(value: Any, out: list[str]) -> None:
    """Append the deterministic encoding of a bound parameter value to ``out``.

    Supported: None, bool, int, float, str, bytes, Decimal, date/time/datetime/timedelta (with tzinfo),
    UUID, enums, ip addresses, dataclasses and lists/tuples/sets/dicts of those.

    Args:
        value: The value.
        out: Accumulator of text fragments.

    Raises:
        Unencodable: The value (or a nested one) has no deterministic encoding.
    """
    cls: type[Any] = value.__class__
    encoder = _ENCODERS.get(cls)
    if encoder is not None:
        encoder(value, out)
        return
    if isinstance(value, enum.Enum):
        out.append(f"E{qualified_name(cls)}|")
        _str(value.name, out)
        encode_value(value.value, out)
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        out.append(f"C{qualified_name(cls)}|{len(fields)}:")
        for field in fields:
            _str(field.name, out)
            encode_value(getattr(value, field.name), out)
        return
    # subclasses of builtins (str enums handled above, e.g. quoted_name, IntFlag-free ints) encode as their base
    for base, base_encoder in _BASES:
        if isinstance(value, base):
            out.append(f"<{qualified_name(cls)}>")
            base_encoder(value, out)
            return
    raise Unencodable(cls)


_BASES: tuple[tuple[type[Any], Callable[[Any, list[str]], None]], ...] = (
    (bool, _bool),
    (int, _int),
    (float, _float),
    (str, _str),
    (bytes, _bytes),
    (datetime.datetime, _datetime),
    (datetime.date, _date),
    (decimal.Decimal, _decimal),
    (uuid.UUID, _uuid),
    (list, _sequence),
    (tuple, _sequence),
    (dict, _dict),
    (frozenset, _set),
    (set, _set),
)


def canonical_text(value: Any) -> str:
    """The canonical encoding of ``value`` as one string.

    Raises:
        Unencodable: for a value (or nested value) with no deterministic encoding.
    """
    out: list[str] = []
    encode_value(value, out)
    return "".join(out)


def canonical_bytes(value: Any) -> bytes:
    """:func:`canonical_text` as bytes (lone surrogates kept), for hashing.

    Raises:
        Unencodable: for a value (or nested value) with no deterministic encoding.
    """
    return canonical_text(value).encode("utf-8", "surrogatepass")
