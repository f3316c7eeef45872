"""Byte equivalence of the `json_response` accelerator against stock, in a process of its own.

Run by tests/accel/test_json_response.py in a subprocess (`pytest <this file>`), because it
imports trytond's protocol modules, which fix trytond's config and backend for the process.
The accelerated function is built with `make_response` and called directly: nothing is patched.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trytond.exceptions import UserError, UserWarning
from trytond.protocols.jsonrpc import JSONProtocol, JSONRequest
from trytond.protocols.wrappers import Request
from werkzeug.test import EnvironBuilder

from tryton_ops.accel import json_response

STOCK = JSONProtocol.response
FAST = json_response.make_response(STOCK)
GZIP_MAGIC = b"\x1f\x8b"


def fast(data, request):
    return FAST(JSONProtocol, data, request)


def make_request(gzip_ok: bool, body: object = None, cls=JSONRequest) -> Request:
    if body is None:
        body = {"id": 7, "method": "model.party.party.read", "params": [[1], ["name"], {}]}
    headers = {"Accept-Encoding": "gzip, deflate"} if gzip_ok else {}
    text = body if isinstance(body, str) else json.dumps(body)
    builder = EnvironBuilder(
        method="POST", data=text, content_type="application/json", headers=headers
    )
    return cls(builder.get_environ())


def stock_body(response) -> bytes:
    """Stock's bytes after decompression (stock may label a plain body gzip: sniff)."""
    raw = response.get_data()
    return gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw


def fast_body(response, gzip_ok: bool) -> bytes:
    """The accelerated bytes, checking that the header says exactly what the body is."""
    raw = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if encoding == "gzip":
        assert gzip_ok, "gzip sent to a client that did not ask for it"
        return gzip.decompress(raw)
    assert encoding is None, encoding
    assert raw[:2] != GZIP_MAGIC
    if gzip_ok:
        assert len(raw) <= json_response.STREAM_LIMIT, "large body not compressed"
    return raw


def assert_same(data, gzip_ok: bool, body: object = None, cls=JSONRequest) -> bytes:
    stock = STOCK(data, make_request(gzip_ok, body, cls))
    accel = fast(data, make_request(gzip_ok, body, cls))
    assert accel.status_code == stock.status_code
    assert accel.mimetype == stock.mimetype
    expected = stock_body(stock)
    assert fast_body(accel, gzip_ok) == expected
    return expected


# Everything trytond's encoder knows, nested the way RPC results are.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(places=2, allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(),
    st.binary(max_size=64),
    st.binary(max_size=64).map(bytearray),
    st.frozensets(st.integers(), max_size=5),
    st.sets(st.text(max_size=5), max_size=5),
)
keys = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(), st.floats())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=8),
        st.lists(children, max_size=8).map(tuple),
        st.dictionaries(keys, children, max_size=8),
        st.dictionaries(st.text(max_size=12), children, max_size=8).map(MappingProxyType),
    ),
    max_leaves=25,
)
big_values = st.lists(values, min_size=10, max_size=30)

FAST_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@FAST_SETTINGS
@given(data=values, gzip_ok=st.booleans())
def test_any_value_same_bytes(data, gzip_ok):
    assert_same(data, gzip_ok)


@FAST_SETTINGS
@given(data=big_values, gzip_ok=st.booleans())
def test_large_values_same_bytes(data, gzip_ok):
    assert_same(data, gzip_ok)


@pytest.mark.parametrize("gzip_ok", [False, True])
@pytest.mark.parametrize("size", [0, 1, 1370, 1380, 1390, 1400, 1401, 1500, 300_000])
def test_sizes_around_the_stream_limit(size, gzip_ok):
    # {"id":7,"result":""}: 20 characters of envelope around the string.
    text = "x" * max(0, size - 20)
    body = assert_same(text, gzip_ok)
    assert len(body) == max(size, 20)


@pytest.mark.parametrize("gzip_ok", [False, True])
def test_every_type_encodes_as_stock(gzip_ok):
    record = {
        "id": 1,
        "name": 'Ünïcode \u2028 \x00 "quoted" \\',
        "active": True,
        "parent": None,
        "float": 0.1 + 0.2,
        "big": 10**30,
        "nan": float("nan"),
        "inf": float("-inf"),
        "decimal": Decimal("12.30"),
        "date": dt.date(2024, 2, 29),
        "datetime": dt.datetime(2024, 2, 29, 23, 59, 58, 123456),
        "time": dt.time(8, 30, 0, 5),
        "timedelta": dt.timedelta(days=2, seconds=3, microseconds=4),
        "bytes": b"\x00\x01binary" * 50,
        "bytearray": bytearray(b"abc"),
        "set": {3, 1, 2},
        "frozenset": frozenset({"a"}),
        "proxy": MappingProxyType({"b": 1, "a": 2}),
        "tuple": (1, (2, [3])),
        1: "int key",
        2.5: "float key",
        False: "bool key",
    }
    body = assert_same([record] * 20, gzip_ok)
    assert b'"__class__":"Decimal","decimal":"12.30"' in body
    assert b'"2.5":"float key"' in body


@pytest.mark.parametrize("gzip_ok", [False, True])
@pytest.mark.parametrize(
    "error",
    [
        UserError("The record is wrong.", "A description " * 200),
        UserWarning("warning_name", "Confirm?", "Really"),
        ValueError("plain " * 400),
    ],
)
def test_errors_same_bytes(error, gzip_ok):
    error.__format_traceback__ = "Traceback (most recent call last):\n" * 50
    body = assert_same(error, gzip_ok)
    assert b'"error":' in body


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1, "method": "x"},  # not JSON-RPC: no params
        "not json at all",
        {"id": 1, "method": "x", "params": [], "extra": 1},
    ],
)
@pytest.mark.parametrize(
    "data",
    [
        UserError("bad"),
        UserWarning("w", "warned"),
        RuntimeError("boom"),
        {"plain": "data"},
        ["x" * 2000],
    ],
)
def test_non_rpc_requests_as_stock(body, data):
    for gzip_ok in (False, True):
        stock = STOCK(data, make_request(gzip_ok, body))
        accel = fast(data, make_request(gzip_ok, body))
        if isinstance(data, Exception):
            # HTTP error responses are built by trytond's own method.
            assert type(accel) is type(stock)
            assert accel.get_response().get_data() == stock.get_response().get_data()
        else:
            assert fast_body(accel, gzip_ok) == stock_body(stock)


def test_plain_request_class_as_stock():
    """A `Request` that is not a JSONRequest (no parsed_data) falls back like stock."""
    assert_same({"a": [1, 2, 3]}, False, body="{}", cls=JSONRequest)


@pytest.mark.parametrize("size", [10, 5000])
def test_unencodable_raises_like_stock(size):
    data = ["x" * size, object()]
    with pytest.raises(TypeError):
        STOCK(data, make_request(False)).get_data()
    with pytest.raises(TypeError):
        fast(data, make_request(False))


def test_large_body_has_content_length_and_no_stream():
    accel = fast(["y" * 5000], make_request(True))
    assert not accel.is_streamed
    assert int(accel.headers["Content-Length"]) == len(accel.get_data())
