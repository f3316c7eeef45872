"""Tryton's JSON types round-trip exactly, and match what trytond itself encodes."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trytond.protocols.jsonrpc import JSONDecoder, JSONEncoder

from tryton_ops.client import types

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=20),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(min_value=dt.timedelta(days=-999), max_value=dt.timedelta(days=999)),
    st.binary(max_size=64),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


@given(values)
def test_round_trip(value):
    assert types.loads(types.dumps(value)) == value


@given(values)
def test_same_encoding_as_trytond(value):
    ours = types.dumps(value)
    theirs = json.dumps(value, cls=JSONEncoder, separators=(",", ":"))
    assert ours == theirs
    assert json.loads(theirs, object_hook=JSONDecoder()) == types.loads(ours)


def test_sets_encode_as_lists():
    assert types.loads(types.dumps({1, 2})) in ([1, 2], [2, 1])


def test_unknown_class_left_as_dict():
    assert types.loads('{"__class__": "Unknown", "x": 1}') == {"__class__": "Unknown", "x": 1}


def test_decimal_precision_kept():
    assert types.loads(types.dumps(Decimal("1.100"))) == Decimal("1.100")
    assert str(types.loads(types.dumps(Decimal("1.100")))) == "1.100"


def test_aware_datetime_sent_as_naive_utc():
    aware = dt.datetime(2030, 6, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert types.loads(types.dumps(aware)) == dt.datetime(2030, 6, 1, 17, 30)


def test_aware_time_is_refused():
    with pytest.raises(TypeError, match="UTC offset"):
        types.dumps(dt.time(1, tzinfo=dt.UTC))
