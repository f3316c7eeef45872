"""Accelerator `json_response`: encode JSON-RPC responses with the C encoder, in one shot.

Stock trytond (`protocols/jsonrpc.py`, `dumps` and `JSONProtocol.response`) encodes with
`encoder.iterencode(obj)`. In CPython `iterencode` without `_one_shot` always runs the pure-Python
encoder, and every response over 1400 characters (views, reads of many records) is streamed
through it: for the party form view that is about 2/3 of the server CPU of the call.

`encoder.encode(obj)` runs the same `JSONEncoder` instance, with the same separators and the
same `default()` serializers (datetime, date, time, timedelta, Decimal, bytes, set,
MappingProxyType, and anything a module registered), through CPython's C encoder, which
produces the same text as the pure-Python one. So the body is the same bytes; what changes:

- a body over 1400 characters is sent in one piece with a Content-Length instead of streamed;
- it is gzip-compressed (level 1, as stock) only when the client accepts gzip, and labelled
  `Content-Encoding: gzip` only then (stock labels every streamed body gzip, compressed or not);
- an object that cannot be encoded raises inside `response()` for any size (stock raised it
  mid-stream for big bodies, after the 200 status line was sent);
- a request id JSON cannot carry (`1e400` parses as infinity, `NaN`) is answered as `null`, as
  JSON-RPC answers an id it could not read; stock echoes `Infinity`/`NaN`, which no strict JSON
  parser accepts.

Errors of non-JSON-RPC requests (HTTP error responses) are still built by trytond's original
method, which differs between 8.0 and 8.2.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

# Stock `dumps(obj, limit=1400)`: bodies longer than this are streamed (and gzipped if asked).
STREAM_LIMIT = 1400
GZIP_LEVEL = 1  # stock: GzipStream(payload, compresslevel=1)


class NotApplicable(Exception):
    """The target does not look like the code this accelerator was verified against."""


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(level=GZIP_LEVEL, wbits=31)  # 31: gzip container
    return compressor.compress(data) + compressor.flush()


def _echoed_id(value: Any) -> Any:
    """The request id to answer with: `None` for a number JSON cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def make_response(original: Any) -> Any:
    """The replacement for `JSONProtocol.response`; `original` is the stock bound classmethod."""
    from trytond.exceptions import TrytonException
    from trytond.protocols import jsonrpc
    from werkzeug.exceptions import BadRequest

    JSONRequest = jsonrpc.JSONRequest
    Response = jsonrpc.Response

    def response(cls, data, request):
        try:
            parsed_data = request.parsed_data
        except BadRequest:
            parsed_data = {}
        if isinstance(request, JSONRequest) and set(parsed_data.keys()) == {
            "id",
            "method",
            "params",
        }:
            payload = {"id": _echoed_id(parsed_data.get("id", 0))}
            if isinstance(data, TrytonException):
                payload["error"] = data.args
            elif isinstance(data, Exception):
                payload["error"] = (str(data), getattr(data, "__format_traceback__", ""))
            else:
                payload["result"] = data
        elif isinstance(data, Exception):
            return original(data, request)  # HTTP error responses: trytond's own code
        else:
            payload = data
        # The module's encoder, looked up per call as stock does (a module may replace it).
        text = jsonrpc.encoder.encode(payload)
        headers = {}
        if len(text) <= STREAM_LIMIT:
            body = text
        elif "gzip" in request.accept_encodings:
            body = _gzip(text.encode("utf-8"))
            headers["Content-Encoding"] = "gzip"
        else:
            body = text.encode("utf-8")
        return Response(body, content_type="application/json", headers=headers)

    response.__tryton_ops_accel__ = "json_response"
    return response


def apply() -> None:
    """Replace `JSONProtocol.response`; raise NotApplicable if the target is not stock."""
    import json.encoder

    from trytond.protocols import jsonrpc

    for name in ("JSONProtocol", "JSONRequest", "Response", "encoder", "dumps"):
        if not hasattr(jsonrpc, name):
            raise NotApplicable(f"trytond.protocols.jsonrpc has no {name}")
    current = jsonrpc.JSONProtocol.__dict__.get("response")
    if not isinstance(current, classmethod):
        raise NotApplicable("JSONProtocol.response is not a classmethod")
    func = current.__func__
    if getattr(func, "__module__", None) != jsonrpc.__name__:
        raise NotApplicable(f"JSONProtocol.response was already replaced by {func.__module__}")
    if not isinstance(jsonrpc.encoder, json.JSONEncoder) or jsonrpc.encoder.indent is not None:
        raise NotApplicable("trytond's JSON encoder is not a plain json.JSONEncoder")
    if json.encoder.c_make_encoder is None:
        raise NotApplicable("this Python has no C JSON encoder: nothing to gain")
    jsonrpc.JSONProtocol.response = classmethod(make_response(jsonrpc.JSONProtocol.response))


def is_applied() -> bool:
    from trytond.protocols import jsonrpc

    func = jsonrpc.JSONProtocol.__dict__["response"].__func__
    return getattr(func, "__tryton_ops_accel__", None) == "json_response"
