"""Round trips of every supported type, canonical keys, and garbage that must be a miss."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import math
import os
import subprocess
import sys
import zoneinfo
from types import MappingProxyType
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tryton_ops.cache.serializer import (
    CorruptValue,
    Unserializable,
    decode,
    encode,
    encode_key,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

timezones = st.one_of(
    st.none(),
    st.just(dt.UTC),
    st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)).map(
        dt.timezone
    ),
    st.sampled_from(["Europe/Brussels", "America/New_York", "Asia/Kolkata"]).map(zoneinfo.ZoneInfo),
)

hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(allow_nan=True),
    st.text(),
    st.binary(),
    st.decimals(allow_nan=False, allow_infinity=True),
    st.sampled_from([decimal.Decimal("NaN"), decimal.Decimal("-0.00")]),
    st.dates(),
    st.datetimes(timezones=timezones),
    st.times(timezones=timezones),
    st.timedeltas(),
)

hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.one_of(
        st.tuples(inner, inner),
        st.lists(inner, max_size=4).map(tuple),
        st.frozensets(inner, max_size=4),
    ),
    max_leaves=12,
)

values = st.recursive(
    hashables,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.lists(st.decimals(), max_size=2),  # signalling NaN too (unhashable)
        st.dictionaries(hashables, inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=4).map(MappingProxyType),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
    ),
    max_leaves=25,
)


def same(a: Any, b: Any) -> bool:
    """Equal with identical container and scalar types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, (dt.datetime, dt.time)):
        return a == b and a.fold == b.fold and _tzkey(a.tzinfo) == _tzkey(b.tzinfo)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, MappingProxyType)):
        return len(a) == len(b) and all(
            any(same(k, k2) and same(v, b[k2]) for k2 in b if _eqish(k, k2)) for k, v in a.items()
        )
    if isinstance(a, (set, frozenset)):
        return encode_key(frozenset(a)) == encode_key(frozenset(b))
    return a == b


def _eqish(a: Any, b: Any) -> bool:
    try:
        return a == b or encode_key(a) == encode_key(b)
    except Unserializable:
        return False


def _tzkey(tz: dt.tzinfo | None) -> Any:
    return getattr(tz, "key", None) or (tz.utcoffset(None) if tz else None)


@SETTINGS
@given(values)
def test_round_trip_keeps_types_exactly(value):
    assert same(decode(encode(value)), value)


@SETTINGS
@given(hashables)
def test_key_encoding_is_deterministic_and_decodable(key):
    assert encode_key(key) == encode_key(key)
    # canonical bytes are also valid value bytes (sets sorted, nothing else changes)
    assert same(decode(encode_key(key)), key)


@SETTINGS
@given(st.frozensets(hashables, max_size=6))
def test_frozenset_key_ignores_insertion_order(items):
    forward = frozenset(sorted(items, key=encode_key))
    backward = frozenset(sorted(items, key=encode_key, reverse=True))
    assert encode_key((1, forward)) == encode_key((1, backward))


def test_key_bytes_identical_across_processes_with_other_hash_seeds():
    """What trytond builds for a context-dependent key: a frozenset of (name, value) pairs."""
    code = (
        "from tryton_ops.cache.serializer import encode_key;"
        "from trytond.cache import freeze;"
        "ctx = {'language': 'en', 'company': 1, 'groups': [3, 1], 'names': {'a': 1, 'b': 2}};"
        "ctx.update({f'k{i}': i for i in range(20)});"  # many keys: set order varies by seed
        "print(encode_key(('party.party', freeze(ctx))).hex())"
    )
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(out.stdout.strip())
    assert len(outputs) == 1


@pytest.mark.parametrize(
    "value",
    [object(), type, lambda: 1, ["ok", object()], {"k": {1, object()}}, "\ud800", range(3)],
    ids=["object", "class", "function", "nested-list", "nested-set", "surrogate", "range"],
)
def test_unsupported_values_are_unserializable(value):
    with pytest.raises(Unserializable):
        encode(value)


def test_subclasses_are_not_silently_downcast():
    class Name(str):
        pass

    with pytest.raises(Unserializable):
        encode(Name("x"))


def test_unhashable_key_is_unserializable():
    with pytest.raises(Unserializable):
        encode_key(("k", ["list"]))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        b"\xd4\x63\x00",  # unknown extension type
        b"\xc7\x01\x06\x00",  # date extension holding garbage
        b"\x81\x91\x80\x01",  # map keyed by a map
        b"\x92\x01",  # truncated array
        b"\x91\x01\x01",  # trailing bytes
        b"\xc7\x05\x05not-a",  # Decimal extension holding garbage
        b"\xc7\x03\x0aabc",  # big int extension holding garbage
        b"cos\nsystem\n(S'echo pwned'\ntR.",  # a pickle
    ],
)
def test_garbage_is_corrupt_never_a_crash(data):
    with pytest.raises(CorruptValue):
        decode(data)


@SETTINGS
@given(st.binary(max_size=64))
def test_random_bytes_decode_or_are_corrupt(data):
    with contextlib.suppress(CorruptValue):
        decode(data)


@SETTINGS
@given(values, st.data())
def test_mutated_encodings_decode_or_are_corrupt(value, data):
    raw = bytearray(encode(value))
    if raw:
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(raw)))
        with contextlib.suppress(CorruptValue):
            decode(bytes(raw[:cut]))


def test_deep_nesting_is_corrupt_not_recursion_crash():
    nested = msgpack.packb(1)
    for _ in range(5000):
        nested = msgpack.packb(msgpack.ExtType(1, b"\x91" + nested))
    with pytest.raises(CorruptValue):
        decode(nested)
