"""Tryton's JSON encoding of Python types (`{"__class__": ...}` objects), both ways.

It mirrors `trytond.protocols.jsonrpc` without importing it, so a client needs no trytond.

Datetimes: trytond stores and returns naive datetimes meaning UTC. A naive datetime is sent as
is; an aware one is converted to UTC first (then sent naive), so no offset is silently dropped.
Values come back naive (UTC). An aware `time` has no UTC equivalent and is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any


def _decode_object(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind is None:
        return obj
    decoder = DECODERS.get(kind)
    return decoder(obj) if decoder else obj


DECODERS = {
    "datetime": lambda o: dt.datetime(
        o["year"], o["month"], o["day"], o["hour"], o["minute"], o["second"], o["microsecond"]
    ),
    "date": lambda o: dt.date(o["year"], o["month"], o["day"]),
    "time": lambda o: dt.time(o["hour"], o["minute"], o["second"], o["microsecond"]),
    "timedelta": lambda o: dt.timedelta(seconds=o["seconds"]),
    "bytes": lambda o: base64.decodebytes(o["base64"].encode()),
    "Decimal": lambda o: Decimal(o["decimal"]),
}


def _encode_default(obj: Any) -> Any:
    # datetime before date: a datetime is also a date
    if isinstance(obj, dt.datetime):
        if obj.utcoffset() is not None:
            obj = obj.astimezone(dt.UTC).replace(tzinfo=None)
        return {
            "__class__": "datetime",
            "year": obj.year,
            "month": obj.month,
            "day": obj.day,
            "hour": obj.hour,
            "minute": obj.minute,
            "second": obj.second,
            "microsecond": obj.microsecond,
        }
    if isinstance(obj, dt.date):
        return {"__class__": "date", "year": obj.year, "month": obj.month, "day": obj.day}
    if isinstance(obj, dt.time):
        if obj.utcoffset() is not None:
            raise TypeError("cannot encode a time with a UTC offset for Tryton (naive only)")
        return {
            "__class__": "time",
            "hour": obj.hour,
            "minute": obj.minute,
            "second": obj.second,
            "microsecond": obj.microsecond,
        }
    if isinstance(obj, dt.timedelta):
        return {"__class__": "timedelta", "seconds": obj.total_seconds()}
    if isinstance(obj, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.encodebytes(obj).decode()}
    if isinstance(obj, Decimal):
        return {"__class__": "Decimal", "decimal": str(obj)}
    if isinstance(obj, set | frozenset):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} for Tryton")


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_encode_default, separators=(",", ":"))


def loads(data: str | bytes) -> Any:
    return json.loads(data, object_hook=_decode_object)
