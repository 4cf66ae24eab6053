"""Rows of ORM instances to msgpack-friendly data and back, through the mapper.

Encoding reads each instance's loaded state (columns and loaded relationships, recursively);
decoding builds detached instances with ``ClassManager.new_instance`` and their identity key,
writing committed values straight into the instance dict, as SQLAlchemy's loader does. That is
several times cheaper than calling model constructors and gives objects that
``session.merge(obj, load=False)`` accepts. Columns the query did not load (``load_only``, a
subclass's own columns in a base-class query) are expired, as the loader leaves them: in a session
they load on access, detached they raise, never read as ``None``.

Anything whose round trip through the cache codec is not exact (an unknown Python type, a
locally modified instance, a missing primary key) raises :class:`Uncacheable`: the result is
then simply not cached.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import operator
import uuid
from typing import TYPE_CHECKING, Any, Final, cast

import msgspec
from sqlalchemy import inspect
from sqlalchemy.orm import ColumnProperty, Mapper, registry
from sqlalchemy.orm.attributes import instance_dict, instance_state, set_committed_value

from litestar_alchemy_kit.canonical import qualified_name
from litestar_alchemy_kit.formats import wire_format
from litestar_alchemy_kit.orm.statement import model_schema_fingerprint

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ("CODEC_VERSION", "RowCodec", "Uncacheable", "registry_schema")

CODEC_VERSION: Final = wire_format("rows")
"""Part of every entry's schema string: a change of this wire format is a miss, never a misread."""

_NATIVE: Final[frozenset[type]] = frozenset({str, int, float, bool, type(None), bytes})
_ENTITY: Final = "e"
_SCALAR: Final = "s"


class Uncacheable(Exception):  # noqa: N818 - a signal, not an error the caller sees
    """The rows cannot be stored without loss; the caller skips the cache set."""


def _iso_datetime(value: Any) -> Any:
    # msgspec keeps aware datetimes as msgpack timestamps but writes naive ones as RFC 3339 text
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else value


def _duration(value: Any) -> datetime.timedelta:
    return msgspec.convert(value, datetime.timedelta)


_CONVERTERS: Final[dict[type, Callable[[Any], Any]]] = {
    uuid.UUID: uuid.UUID,
    decimal.Decimal: decimal.Decimal,
    datetime.datetime: _iso_datetime,
    datetime.date: datetime.date.fromisoformat,
    datetime.time: datetime.time.fromisoformat,
    datetime.timedelta: _duration,
}
_JSON_LIKE: Final = frozenset({dict, list})
# Zones that are UTC by definition: msgpack keeps the instant and the offset, not the tzinfo object,
# so such values come back with ``datetime.timezone.utc`` (same instant, same wall clock, same offset).
_UTC_ZONES: Final = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


def _exact_clock(value: Any) -> bool:
    """``value`` keeps its wall clock and offset through msgpack: naive, or in UTC."""
    tz = value.tzinfo
    if tz is None or tz is datetime.timezone.utc:
        return True
    # an aware time's zone is dropped by msgpack; an aware datetime comes back in UTC
    return isinstance(value, datetime.datetime) and getattr(tz, "key", None) in _UTC_ZONES


def _converter(python_type: type[Any]) -> Callable[[Any], Any] | None:
    """How to turn the untyped msgpack form of a ``python_type`` value back into one."""
    if issubclass(python_type, enum.Enum):
        return python_type
    return _CONVERTERS.get(python_type)


def _column_python_type(prop: ColumnProperty[Any]) -> type | None:
    try:
        python_type: type = prop.columns[0].type.python_type
    except NotImplementedError:
        return None
    return python_type


def _wire_type(expected: type | None) -> Any:
    """The type msgspec decodes a column into: its Python type (or NULL), ``Any`` for JSON-like / unknown ones.

    Every column accepts NULL: a value is checked against its column's type when encoded, and NULL
    appears even in columns declared ``NOT NULL`` (outer-joined rows, defaults filled in later).
    """
    if expected is None or expected in _JSON_LIKE:
        return Any
    return expected | None


_ENCODER: Final = msgspec.msgpack.Encoder()
_REF_LEN: Final = 2
_FLAT: Final = "F"
_GENERIC: Final = "G"


def _json_exact(value: Any) -> bool:
    """``value`` (a dict/list) survives a msgpack round trip unchanged."""
    try:
        return bool(msgspec.msgpack.decode(msgspec.msgpack.encode(value)) == value)
    except (TypeError, ValueError, msgspec.MsgspecError):
        return False


class _MapperCodec:
    """Encodes and builds instances of one mapped class."""

    __slots__ = (
        "cls_key",
        "converted",
        "converters",
        "decoders",
        "expected",
        "full_mask",
        "getter",
        "identity_class",
        "keys",
        "manager",
        "mapper",
        "pk_converters",
        "pk_keys",
        "plain_types",
        "relationship_keys",
        "relationships",
        "unloaded_keys",
    )

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.manager = mapper.class_manager
        self.cls_key = qualified_name(mapper.class_)
        props = list(mapper.column_attrs)
        self.keys: tuple[str, ...] = tuple(p.key for p in props)
        types = [_column_python_type(p) for p in props]
        self.expected: tuple[type | None, ...] = tuple(types)
        self.converters: tuple[Callable[[Any], Any] | None, ...] = tuple(
            None if t is None else _converter(t) for t in types
        )
        self.converted: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
            (key, convert) for key, convert in zip(self.keys, self.converters, strict=True) if convert is not None
        )
        # What Mapper.identity_key_from_primary_key puts first (the base class of an inheritance tree);
        # identity token None: no horizontal sharding.
        self.identity_class: type = mapper.identity_key_from_primary_key(tuple([None] * len(mapper.primary_key)))[0]
        self.full_mask = (1 << len(self.keys)) - 1
        self.decoders: dict[int, tuple[msgspec.msgpack.Decoder[Any], tuple[str, ...], tuple[int, ...]]] = {}
        self.unloaded_keys: dict[int, tuple[str, ...]] = {}
        # in the order of the mapper's primary key, as identity keys hold the values (a composite key's
        # constraint may list its columns in another order than the class declares them)
        pk_keys: list[str] = []
        for column in mapper.primary_key:
            found = [p.key for p in props if column in p.columns]
            if len(found) == 1 and found[0] not in pk_keys:
                pk_keys.append(found[0])
        self.pk_keys: tuple[str, ...] = tuple(pk_keys)
        if len(self.pk_keys) != len(mapper.primary_key):
            self.pk_keys = ()  # primary key not mapped one column per attribute: never cached
        self.pk_converters = tuple(self.converters[self.keys.index(key)] for key in self.pk_keys)
        self.relationships: tuple[tuple[str, bool], ...] = tuple(
            (rel.key, bool(rel.uselist)) for rel in mapper.relationships
        )
        self.relationship_keys = frozenset(key for key, _ in self.relationships)
        # the flat layout's encoding (see RowCodec._encode_flat): every column of a row at once, and per column
        # the value types :meth:`check` accepts whatever the value
        self.getter: Callable[[dict[str, Any]], tuple[Any, ...]] | None = (
            operator.itemgetter(*self.keys) if len(self.keys) > 1 else None
        )
        self.plain_types = tuple(
            _plain_types(expected, convert) for expected, convert in zip(types, self.converters, strict=True)
        )

    def typed(self, mask: int) -> tuple[msgspec.msgpack.Decoder[Any], tuple[str, ...], tuple[int, ...]]:
        """Decoder of a list of rows of the columns in ``mask``, their keys, and the pk positions."""
        found = self.decoders.get(mask)
        if found is None:
            indexes = [i for i in range(len(self.keys)) if mask >> i & 1]
            types = tuple(_wire_type(self.expected[i]) for i in indexes)
            keys = tuple(self.keys[i] for i in indexes)
            pk_positions = tuple(keys.index(key) for key in self.pk_keys)
            decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(list[tuple[types]])  # type: ignore[valid-type]
            found = self.decoders[mask] = (decoder, keys, pk_positions)
        return found

    def unloaded(self, mask: int) -> tuple[str, ...]:
        """The column attributes a row encoded with ``mask`` did not load (deferred, or a subclass's own)."""
        found = self.unloaded_keys.get(mask)
        if found is None:
            found = self.unloaded_keys[mask] = tuple(
                key for index, key in enumerate(self.keys) if not mask >> index & 1
            )
        return found

    def check(self, index: int, value: Any) -> None:
        """Raise :class:`Uncacheable` unless ``value`` comes back from the wire with its exact type and value."""
        if value is None:
            return
        expected = self.expected[index]
        kind: type[Any] = type(cast("object", value))
        if expected is None or expected in _JSON_LIKE:
            # decoded untyped: scalars come back as they are, containers only if they compare equal
            if kind in _NATIVE or (kind in _JSON_LIKE and _json_exact(value)):
                return
        elif kind is expected or (expected is uuid.UUID and isinstance(value, uuid.UUID)):
            # exact type: a subclass (a datetime in a Date column, a bool in an Integer one) would not
            # come back as itself; UUID subclasses (asyncpg's) are the one exception, equal as UUIDs
            if expected is datetime.datetime or expected is datetime.time:
                if _exact_clock(value):
                    return
            elif expected in _NATIVE or self.converters[index] is not None:
                return
        msg = f"{self.cls_key}.{self.keys[index]}: {kind.__name__} value is not stored exactly"
        raise Uncacheable(msg)


def _mapped(value: object) -> bool:
    try:
        instance_state(value)
    except AttributeError:  # a scalar
        return False
    return True


def _plain_types(expected: type | None, convert: Callable[[Any], Any] | None) -> frozenset[type]:
    """The types of a column's values that come back from the wire exactly, whatever the value (NULL included)."""
    if expected is None or expected in _JSON_LIKE:
        return _NATIVE  # decoded untyped: scalars come back as they are
    if expected is datetime.datetime or expected is datetime.time:
        return frozenset({type(None)})  # exact only in some zones: each value is checked
    if expected in _NATIVE or convert is not None:
        return frozenset({type(None), expected})
    return frozenset({type(None)})


def _check_width(keys: list[str | None], width: int) -> None:
    if len(keys) != width:
        msg = f"cached rows of {width} columns under keys {keys!r}"
        raise Uncacheable(msg)


def registry_schema(model: type) -> str:
    """Schema string for entries about ``model``: every mapper of its registry, plus the wire format.

    Results carry related instances of other classes (eager loads, polymorphic rows), so a deploy
    that changes any class of the registry must not decode old entries.
    """
    model_mapper: Mapper[Any] = inspect(model)
    mappers = sorted(model_mapper.registry.mappers, key=lambda m: qualified_name(m.class_))
    digest = hashlib.sha256(CODEC_VERSION.encode())
    for mapper in mappers:
        digest.update(qualified_name(mapper.class_).encode())
        digest.update(model_schema_fingerprint(cast("Any", mapper.class_)).encode())
    return digest.hexdigest()[:32]


class RowCodec:
    """Encodes result rows (ORM entities and plain scalars) and builds fresh rows from them.

    One instance serves one registry of mapped classes; it is safe to share between threads
    (it only caches per-class codecs, built idempotently).

    Args:
        model: any mapped class of the registry whose instances are encoded.
    """

    __slots__ = ("_by_class", "_by_key", "_registry")

    def __init__(self, model: type) -> None:
        model_mapper: Mapper[Any] = inspect(model)
        self._registry: registry = model_mapper.registry
        self._by_key: dict[str, _MapperCodec] = {}
        self._by_class: dict[type, _MapperCodec] = {}

    def _class_codec(self, cls: type) -> _MapperCodec:
        """:meth:`_codec_for_class`, memoized by the class itself."""
        codec = self._by_class.get(cls)
        if codec is None:
            codec = self._by_class[cls] = self._codec_for_class(cls)
        return codec

    def _codec_for_class(self, cls: type) -> _MapperCodec:
        key = qualified_name(cls)
        codec = self._by_key.get(key)
        if codec is None:
            codec = self._by_key[key] = _MapperCodec(inspect(cls))
        return codec

    def _codec_for_key(self, key: str) -> _MapperCodec:
        codec = self._by_key.get(key)
        if codec is None:
            for mapper in self._registry.mappers:
                if qualified_name(mapper.class_) == key:
                    codec = self._by_key[key] = _MapperCodec(mapper)
                    break
            else:
                msg = f"no mapped class {key!r} in this registry"
                raise Uncacheable(msg)
        return codec

    # --- encoding ---------------------------------------------------------------------------

    def encode_rows(self, keys: Sequence[str | None], rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The cache payload for a result; raises :class:`Uncacheable` when it would not be exact.

        ``keys``: one per column (``None`` for an unnamed one); rows of another width are not stored,
        as :meth:`decode_rows` would not rebuild them. Rows of one fully loaded entity class with no
        loaded relationships (most reads) use a flat layout decoded in one typed msgspec pass;
        anything else the generic nested layout.
        """
        if rows and len(rows[0]) != len(keys):
            msg = f"result keys {list(keys)!r} do not name its {len(rows[0])} columns"
            raise Uncacheable(msg)
        flat = self._encode_flat(rows)
        if flat is not None:
            return [_FLAT, list(keys), *flat]
        generic = self._encode_generic(rows)
        flat = self._flatten(generic)
        if flat is not None:
            return [_FLAT, list(keys), *flat]
        return [_GENERIC, list(keys), *generic]

    def _encode_flat(self, rows: Sequence[Sequence[Any]]) -> tuple[str, int, bytes] | None:
        """The flat layout read straight from the instances, or ``None``: the generic encoding decides.

        For rows of one distinct, clean instance each, all of one class, with every column and no
        relationship loaded (most reads). Values are checked a column at once, as :meth:`_MapperCodec.check`
        checks each one.
        """
        found = self._flat_table(rows)
        if found is None:
            return None
        codec, table = found
        plain = codec.plain_types
        for index, column in enumerate(zip(*table, strict=True)):
            if not set(map(type, column)) <= plain[index]:
                for value in column:
                    codec.check(index, value)
        try:
            return codec.cls_key, codec.full_mask, _ENCODER.encode(table)
        except (TypeError, ValueError, OverflowError, msgspec.MsgspecError) as exc:  # e.g. ints beyond 64 bits
            msg = f"{codec.cls_key} values have no msgpack form: {exc}"
            raise Uncacheable(msg) from exc

    def _flat_table(self, rows: Sequence[Sequence[Any]]) -> tuple[_MapperCodec, list[tuple[Any, ...]]] | None:
        """The codec of the rows' one class and each row's column values, where the flat layout fits them."""
        first: object = rows[0][0] if rows and len(rows[0]) == 1 else None
        cls = type(first)
        codec = None if first is None or not _mapped(first) else self._class_codec(cls)
        if codec is None or codec.getter is None or not codec.pk_keys:
            return None
        getter, related = codec.getter, codec.relationship_keys
        table: list[tuple[Any, ...]] = []
        for row in rows:
            state = instance_state(row[0]) if len(row) == 1 and type(row[0]) is cls else None
            if state is None or state.key is None or state.modified:
                return None
            data = state.dict
            if related and not related.isdisjoint(data):
                return None
            try:
                table.append(getter(data))
            except KeyError:  # a column not loaded: the generic layout keeps the mask
                return None
        if len({id(row[0]) for row in rows}) != len(rows):
            return None  # an instance twice: the generic layout refers back to it
        return codec, table

    def _flatten(self, generic: list[Any]) -> tuple[str, int, bytes] | None:
        kinds, rows = generic
        if kinds != [_ENTITY] or not rows:
            return None
        first = rows[0][0]
        if first is None or len(first) != 4:  # noqa: PLR2004 - [cls, mask, values, relations]
            return None
        cls_key, mask = first[0], first[1]
        values: list[Any] = []
        for (cell,) in rows:
            if cell is None or len(cell) != 4 or cell[0] != cls_key or cell[1] != mask or cell[3]:  # noqa: PLR2004
                return None
            values.append(cell[2])
        try:
            return cls_key, mask, _ENCODER.encode(values)
        except (TypeError, ValueError, OverflowError, msgspec.MsgspecError) as exc:  # e.g. ints beyond 64 bits
            msg = f"{cls_key} values have no msgpack form: {exc}"
            raise Uncacheable(msg) from exc

    def _encode_generic(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        kinds: list[str] | None = None
        seen: set[int] = set()
        out: list[list[Any]] = []
        for row in rows:
            if kinds is None:
                kinds = [_ENTITY if hasattr(cell, "_sa_instance_state") else _SCALAR for cell in row]
            encoded: list[Any] = []
            for kind, cell in zip(kinds, row, strict=True):
                if kind == _ENTITY:
                    encoded.append(None if cell is None else self._encode_instance(cell, seen))
                elif type(cell) in _NATIVE:
                    encoded.append(cell)
                else:
                    msg = f"result column value of type {type(cell).__name__} is not stored exactly"
                    raise Uncacheable(msg)
            out.append(encoded)
        return [kinds or [], out]

    def _encode_instance(self, obj: Any, seen: set[int]) -> list[Any]:
        state = instance_state(obj)
        if state.key is None or state.modified:
            msg = f"{type(obj).__name__} instance is not a clean persistent row"
            raise Uncacheable(msg)
        codec = self._codec_for_class(type(cast("object", obj)))
        if not codec.pk_keys:
            msg = f"{codec.cls_key} has no single-column primary key attributes"
            raise Uncacheable(msg)
        data = state.dict
        if id(obj) in seen:
            # Already encoded in this result (a cycle or a shared related row): a reference suffices.
            return [codec.cls_key, [data[key] for key in codec.pk_keys]]
        seen.add(id(obj))
        mask = 0
        values: list[Any] = []
        for index, key in enumerate(codec.keys):
            if key in data:
                value = data[key]
                codec.check(index, value)
                values.append(value)
                mask |= 1 << index
        if any(key not in data for key in codec.pk_keys):
            msg = f"{codec.cls_key} row without its primary key loaded"
            raise Uncacheable(msg)
        return [codec.cls_key, mask, values, self._encode_relations(codec, data, seen)]

    def _encode_relations(self, codec: _MapperCodec, data: dict[str, Any], seen: set[int]) -> list[Any]:
        """The loaded relationships of one instance (unloaded ones stay unloaded when rebuilt)."""
        relations: list[Any] = []
        for index, (key, uselist) in enumerate(codec.relationships):
            if key not in data:
                continue
            related = data[key]
            if related is None:
                relations.append([index, None])
            elif uselist:
                if not isinstance(related, list):
                    msg = f"{codec.cls_key}.{key}: only list collections are cached"
                    raise Uncacheable(msg)
                relations.append([index, [self._encode_instance(item, seen) for item in related]])  # pyright: ignore[reportUnknownVariableType]
            else:
                relations.append([index, self._encode_instance(related, seen)])
        return relations

    # --- decoding ---------------------------------------------------------------------------

    def decode_rows(self, payload: Any) -> tuple[list[str | None], list[tuple[Any, ...]]]:
        """Result keys and fresh rows (new detached instances every call) from :meth:`encode_rows` output.

        Raises :class:`Uncacheable` for rows wider or narrower than their keys (an entry written before
        unnamed columns were kept in its keys): a result rebuilt from them would not fit its rows.
        """
        if payload[0] == _FLAT:  # one entity per row, never empty
            _, keys, cls_key, mask, blob = payload
            _check_width(keys, 1)
            return keys, self._decode_flat(cls_key, mask, blob)
        _, keys, kinds, rows = payload
        if rows:  # an empty result's kinds are unknown
            _check_width(keys, len(kinds))
        return keys, self._decode_generic(kinds, rows)

    def _decode_flat(self, cls_key: str, mask: int, blob: bytes) -> list[tuple[Any, ...]]:
        codec = self._by_key.get(cls_key) or self._codec_for_key(cls_key)
        decoder, keys, pk_positions = codec.typed(mask)
        new_instance = codec.manager.new_instance
        identity_class = codec.identity_class
        unloaded = codec.unloaded(mask)
        out: list[tuple[Any, ...]] = []
        single = pk_positions[0] if len(pk_positions) == 1 else None  # most tables: identity built without a loop
        for values in decoder.decode(blob):
            obj = new_instance()
            state = instance_state(obj)
            # the state's dict, as SQLAlchemy's loader writes it; the typed decoder gave each row exactly len(keys) values
            instance_dict(obj).update(zip(keys, values))  # noqa: B905
            state.key = (
                identity_class,
                (values[single],) if single is not None else tuple([values[i] for i in pk_positions]),
                None,
            )
            if unloaded:
                state.expired_attributes.update(unloaded)
            out.append((obj,))
        return out

    def _decode_generic(self, kinds: list[str], rows: list[Any]) -> list[tuple[Any, ...]]:
        memo: dict[tuple[str, tuple[Any, ...]], Any] = {}
        if kinds == [_ENTITY]:
            build = self._build
            return [(None if cell is None else build(cell, memo),) for (cell,) in rows]
        return [
            tuple(
                self._build(cell, memo) if kind == _ENTITY and cell is not None else cell
                for kind, cell in zip(kinds, row, strict=True)
            )
            for row in rows
        ]

    def _build(self, encoded: list[Any], memo: dict[tuple[str, tuple[Any, ...]], Any]) -> Any:
        codec = self._by_key.get(encoded[0]) or self._codec_for_key(encoded[0])
        if len(encoded) == _REF_LEN:  # a reference to an instance built earlier in this result
            pk_ref = tuple(
                value if convert is None or value is None else convert(value)
                for convert, value in zip(codec.pk_converters, encoded[1], strict=True)
            )
            return memo[codec.cls_key, pk_ref]
        _, mask, values, relations = encoded
        obj = codec.manager.new_instance()
        state = instance_state(obj)
        data = state.dict
        converters = codec.converters
        if mask == codec.full_mask:
            # Bulk-assign in C, then convert the few columns msgpack cannot carry natively.
            data.update(zip(codec.keys, values, strict=True))
            for key, convert in codec.converted:
                value = data[key]
                if value is not None:
                    data[key] = convert(value)
        else:
            position = 0
            for index, key in enumerate(codec.keys):
                if mask >> index & 1:
                    value = values[position]
                    position += 1
                    convert_one = converters[index]
                    data[key] = value if convert_one is None or value is None else convert_one(value)
            state.expired_attributes.update(codec.unloaded(mask))
        pk = tuple([data[key] for key in codec.pk_keys])
        state.key = (codec.identity_class, pk, None)
        memo[codec.cls_key, pk] = obj
        for index, related in relations:
            relation = codec.relationships[cast("int", index)]
            key, uselist = relation
            if related is None:
                value = None
            elif uselist:
                value = [self._build(item, memo) for item in related]
            else:
                value = self._build(related, memo)
            set_committed_value(obj, key, value)
        return obj
