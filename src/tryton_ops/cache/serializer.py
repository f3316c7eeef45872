"""msgpack serialization of cache values and keys: exact round trips, never pickle.

A writable Redis must never become code execution, so values are encoded with msgpack plus a
closed set of extension types. Decoding only ever builds plain data (numbers, strings, bytes,
containers, Decimal, date/time types); anything else in Redis is a `CorruptValue`, which the
cache treats as a miss.

Types round-trip exactly, container kinds included (a tuple stays a tuple, a
`MappingProxyType` stays one), because trytond callers rely on the immutable shapes that
`trytond.cache.immutable` produces.

`encode_key` is a canonical encoding: equal keys give equal bytes in every process and on every
host (sets and dict items are sorted by their encoding, never by `hash()` order).
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import msgpack

__all__ = ["CorruptValue", "Unserializable", "decode", "encode", "encode_key"]


class Unserializable(TypeError):
    """The value holds a type the format does not carry; keep it in the in-process L1 only."""


class CorruptValue(ValueError):
    """Bytes that are not a value this module wrote (garbage, truncated, foreign): a miss."""


# Extension type codes. Never renumber: values written by one version are read by another.
# Native msgpack arrays are tuples and native maps are MappingProxyType.
EXT_LIST = 1
EXT_DICT = 2
EXT_SET = 3
EXT_FROZENSET = 4
EXT_DECIMAL = 5
EXT_DATE = 6
EXT_DATETIME = 7
EXT_TIME = 8
EXT_TIMEDELTA = 9
EXT_BIGINT = 10


def _tz_spec(tz: dt.tzinfo | None) -> Any:
    if tz is None:
        return None
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        return ["o", offset.days, offset.seconds, offset.microseconds]
    key = getattr(tz, "key", None)  # zoneinfo.ZoneInfo
    if isinstance(key, str):
        return ["z", key]
    raise Unserializable(f"time zone {tz!r} cannot be serialized")


def _tz_from_spec(spec: Any) -> dt.tzinfo | None:
    if spec is None:
        return None
    if spec[0] == "o":
        return dt.timezone(dt.timedelta(days=spec[1], seconds=spec[2], microseconds=spec[3]))
    if spec[0] == "z":
        import zoneinfo

        return zoneinfo.ZoneInfo(spec[1])
    raise CorruptValue("unknown time zone spec")


class _Codec:
    """Turns a value into msgpack-native data (lists, dicts, ExtType) in one Python walk.

    The common shapes of cached values, tuples and `MappingProxyType` (what `immutable()`
    makes), map to native msgpack arrays and maps, decoded in C; the rarer exact kinds (list,
    dict, set, Decimal, dates, ...) become extension types. With `canonical`, set elements are
    sorted by their encoding so equal keys give equal bytes everywhere.
    """

    def __init__(self, canonical: bool):
        self.canonical = canonical

    def pack(self, obj: Any) -> bytes:
        try:
            return self.pack_native(self.walk(obj))
        except Unserializable:
            raise
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise Unserializable(str(exc)) from None

    def walk(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is str or kind is bool or kind is float or obj is None or kind is bytes:
            return obj
        if kind is int:
            if -(2**63) <= obj < 2**64:
                return obj
            return msgpack.ExtType(EXT_BIGINT, str(obj).encode())
        walk = self.walk
        if kind is tuple:
            return tuple([walk(v) for v in obj])
        if kind is MappingProxyType:
            return {walk(k): walk(v) for k, v in obj.items()}
        if kind is list:
            return msgpack.ExtType(EXT_LIST, self.pack_native([walk(v) for v in obj]))
        if kind is dict:
            return msgpack.ExtType(
                EXT_DICT, self.pack_native({walk(k): walk(v) for k, v in obj.items()})
            )
        if kind is set or kind is frozenset:
            parts = [self.pack(v) for v in obj]
            if self.canonical:
                parts.sort()
            code = EXT_SET if kind is set else EXT_FROZENSET
            return msgpack.ExtType(code, _array_header(len(parts)) + b"".join(parts))
        if kind is decimal.Decimal:
            return msgpack.ExtType(EXT_DECIMAL, str(obj).encode())
        if kind is dt.datetime:
            payload = [
                obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second,
                obj.microsecond, obj.fold, _tz_spec(obj.tzinfo),
            ]  # fmt: skip
            return msgpack.ExtType(EXT_DATETIME, self.pack_native(payload))
        if kind is dt.date:
            return msgpack.ExtType(EXT_DATE, self.pack_native(obj.toordinal()))
        if kind is dt.time:
            payload = [
                obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold,
                _tz_spec(obj.tzinfo),
            ]  # fmt: skip
            return msgpack.ExtType(EXT_TIME, self.pack_native(payload))
        if kind is dt.timedelta:
            return msgpack.ExtType(
                EXT_TIMEDELTA, self.pack_native([obj.days, obj.seconds, obj.microseconds])
            )
        raise Unserializable(f"{kind.__module__}.{kind.__qualname__} cannot be serialized")

    @staticmethod
    def pack_native(data: Any) -> bytes:
        # Only walked data gets here: exact tuples, dicts, scalars and ExtType.
        return msgpack.packb(data, use_bin_type=True)


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 2**16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


_VALUE = _Codec(canonical=False)
_KEY = _Codec(canonical=True)


_MAX_EXT_DEPTH = 100
_depth = threading.local()


def _unpack(data: bytes) -> Any:
    # Arrays are tuples and maps are MappingProxyType (the encoder's native shapes); a map
    # key that is an array is a tuple, hence hashable. Extension payloads are decoded by a
    # nested call: bound the nesting so that hostile bytes cannot exhaust the C stack.
    level = getattr(_depth, "level", 0)
    if level >= _MAX_EXT_DEPTH:
        raise CorruptValue("extension types nested too deeply")
    _depth.level = level + 1
    try:
        return msgpack.unpackb(
            data,
            ext_hook=_ext_hook,
            object_hook=MappingProxyType,
            raw=False,
            strict_map_key=False,
            use_list=False,
            timestamp=0,
        )
    finally:
        _depth.level = level


def _ext_seq(data: bytes) -> tuple:
    value = _unpack(data)
    if type(value) is not tuple:
        raise CorruptValue("expected an array")
    return value


def _ext_dict(data: bytes) -> dict:
    value = _unpack(data)
    if type(value) is not MappingProxyType:
        raise CorruptValue("expected a map")
    return dict(value)


def _ext_decimal(data: bytes) -> decimal.Decimal:
    return decimal.Decimal(data.decode("ascii"))


def _ext_datetime(data: bytes) -> dt.datetime:
    y, mo, d, h, mi, s, us, fold, tz = _unpack(data)
    return dt.datetime(y, mo, d, h, mi, s, us, tzinfo=_tz_from_spec(tz), fold=fold)


def _ext_time(data: bytes) -> dt.time:
    h, mi, s, us, fold, tz = _unpack(data)
    return dt.time(h, mi, s, us, tzinfo=_tz_from_spec(tz), fold=fold)


def _ext_timedelta(data: bytes) -> dt.timedelta:
    days, seconds, microseconds = _unpack(data)
    return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _ext_bigint(data: bytes) -> int:
    text = data.decode("ascii")
    if len(text) > 4300 or not text.lstrip("-").isdigit():
        raise CorruptValue("bad integer")
    return int(text)


def _ext_date(data: bytes) -> dt.date:
    ordinal = _unpack(data)
    if type(ordinal) is not int:
        raise CorruptValue("bad date")
    return dt.date.fromordinal(ordinal)


_EXT_DECODERS: dict[int, Callable[[bytes], Any]] = {
    EXT_LIST: lambda data: list(_ext_seq(data)),
    EXT_DICT: _ext_dict,
    EXT_SET: lambda data: set(_ext_seq(data)),
    EXT_FROZENSET: lambda data: frozenset(_ext_seq(data)),
    EXT_DECIMAL: _ext_decimal,
    EXT_DATE: _ext_date,
    EXT_DATETIME: _ext_datetime,
    EXT_TIME: _ext_time,
    EXT_TIMEDELTA: _ext_timedelta,
    EXT_BIGINT: _ext_bigint,
}


def _ext_hook(code: int, data: bytes) -> Any:
    try:
        decoder = _EXT_DECODERS[code]
    except KeyError:
        raise CorruptValue(f"unknown extension type {code}") from None
    return decoder(data)


def encode(value: Any) -> bytes:
    """Bytes for Redis; raises `Unserializable` for a value that must stay in L1."""
    return _VALUE.pack(value)


def decode(data: bytes) -> Any:
    """The value, or `CorruptValue` for anything this module did not write."""
    try:
        return _unpack(data)
    except CorruptValue:
        raise
    except Exception as exc:  # msgpack raises many types on garbage; all mean "not ours"
        raise CorruptValue(f"{type(exc).__name__}: {exc}") from None


def encode_key(key: Any) -> bytes:
    """The canonical bytes of a cache key (identical across processes and hosts).

    Keys are hashable, so they hold no dict, list or set whose order could vary; a hashable
    tuple or frozenset is encoded with its set elements sorted by their own encoding.
    """
    try:
        hash(key)
    except TypeError as exc:
        raise Unserializable(f"unhashable key: {exc}") from None
    return _KEY.pack(key)
