"""Record explorer: one record with its function fields, relations followed to a depth.

Reads run with the access rights of a chosen user (model and field access, record rules), so
"why can't Alice see this?" is answered by reading as Alice.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from tryton_ops.config.schema import Debug
from tryton_ops.debug.errors import DebugError, unknown
from tryton_ops.debug.introspect import get_model
from tryton_ops.debug.pysonfmt import render

RELATIONS = ("many2one", "one2one", "one2many", "many2many", "reference")
MAX_RELATED = 20  # x2many records followed per field (the ids are all listed)


def find_user(pool, login: str) -> int:
    """User id by login (never assume admin is 1: 8.2's trytond-admin may give it 3)."""
    from trytond.transaction import Transaction

    User = pool.get("res.user")
    with Transaction().set_user(0), Transaction().set_context(active_test=False):
        users = User.search([("login", "=", login)])
        if not users:
            logins = [u.login for u in User.search([])]
            raise unknown("user", login, logins)
    return users[0].id


@contextmanager
def as_user(pool, login: str | None) -> Iterator[int]:
    """Run as `login` with access checks on, as an RPC call of that user would."""
    from trytond.transaction import Transaction

    transaction = Transaction()
    if login is None:
        user = transaction.user
        with transaction.set_context(_check_access=True):
            yield user
        return
    user = find_user(pool, login)
    User = pool.get("res.user")
    with transaction.set_user(user):
        context = User.get_preferences(context_only=True)
        with transaction.set_context(context, _check_access=True):
            yield user


def jsonable(value: Any) -> Any:
    """Field values as JSON: dates ISO, Decimal as text (exact), binary as base64."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return {"binary": len(data), "base64": base64.b64encode(data[:64]).decode()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


class LimitExceeded(DebugError):
    """A `record` call went past a [debug] bound: it stops the whole walk, not one branch."""


class Budget:
    """What one `record` call may still read, from `[debug]` (trytond.conf `[ops_debug]`)."""

    def __init__(self, limits: Debug):
        self.limits = limits
        self.records = 0
        self.deadline = time.monotonic() + limits.record_timeout

    def check_depth(self, depth: int) -> None:
        if depth < 0:
            raise DebugError("depth must be 0 or more")
        if depth > self.limits.record_max_depth:
            raise LimitExceeded(
                f"depth {depth} is more than [debug] record_max_depth = "
                f"{self.limits.record_max_depth}: ask for less (--depth) or raise "
                "record_max_depth in tryton-ops.toml and restart the server"
            )

    def spend(self) -> None:
        """Count one record read; raise when the call read too many or for too long."""
        self.records += 1
        if self.records > self.limits.record_max_records:
            raise LimitExceeded(
                f"the walk read more than [debug] record_max_records = "
                f"{self.limits.record_max_records} records: ask for less depth (--depth) or "
                "fewer fields (--fields), or raise record_max_records in tryton-ops.toml"
            )
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"the walk took more than [debug] record_timeout = "
                f"{self.limits.record_timeout} s ({self.records - 1} records read): ask for "
                "less depth (--depth) or fewer fields (--fields), or raise record_timeout"
            )


def explore(
    pool,
    model: str,
    record_id: int,
    fields: list[str] | None = None,
    depth: int = 1,
    user: str | None = None,
) -> dict[str, Any]:
    """The record as `user` sees it; relations followed `depth` levels, within the bounds."""
    budget = Budget(Debug.from_trytond())
    budget.check_depth(depth)
    get_model(pool, model)
    with as_user(pool, user) as uid:
        out = _read(pool, model, record_id, fields, depth, seen=set(), budget=budget)
        out["user"] = uid
        return out


def _access_error(exc: Exception) -> DebugError:
    message = getattr(exc, "message", None) or str(exc)
    return DebugError(f"access denied: {message}")


def _read(
    pool, model: str, record_id: int, fields, depth: int, seen: set, budget: Budget
) -> dict[str, Any]:
    from trytond.exceptions import UserError
    from trytond.transaction import Transaction

    budget.spend()
    Model = pool.get(model)
    try:
        available = Model.fields_get()
    except UserError as exc:
        raise _access_error(exc) from None
    if fields:
        for name in fields:
            if name not in Model._fields:
                raise unknown(f"field of {model}", name, Model._fields)
            if name not in available:
                raise DebugError(f"access denied: field {model}.{name} is not readable")
        names = list(fields)
    else:
        names = sorted(available)
    with Transaction().set_context(active_test=False):
        try:
            found = Model.search([("id", "=", record_id)])
        except UserError as exc:
            raise _access_error(exc) from None
    if not found:
        raise DebugError(f"no {model} record with id {record_id} (or not visible to this user)")
    try:
        values = Model.read([record_id], [*names, "rec_name"])[0]
    except UserError as exc:
        raise _access_error(exc) from None
    seen = seen | {(model, record_id)}
    out: dict[str, Any] = {
        "model": model,
        "id": record_id,
        "rec_name": values.get("rec_name"),
        "fields": {},
    }
    for name in names:
        field = Model._fields[name]
        value = values.get(name)
        if field._type == "boolean" and value is not None:
            value = bool(value)  # SQLite gives 0/1: one format whatever the backend
        entry: dict[str, Any] = {"type": field._type, "value": jsonable(value)}
        if field._type in RELATIONS and depth > 0:
            entry.update(_follow(pool, field, values.get(name), depth - 1, seen, budget))
        out["fields"][name] = entry
    out["states"] = field_states(Model, values, names)
    return out


def _follow(pool, field, value, depth: int, seen: set, budget: Budget) -> dict[str, Any]:
    if value in (None, [], ()):
        return {}
    if field._type == "reference":
        if not isinstance(value, str) or "," not in value:
            return {}
        target, _, rid = value.partition(",")
        pairs = [(target, int(rid))] if rid.lstrip("-").isdigit() and int(rid) >= 0 else []
    else:
        target = field.get_target().__name__
        ids = value if isinstance(value, (list, tuple)) else [value]
        pairs = [(target, i) for i in ids[:MAX_RELATED]]
    related = []
    for model, rid in pairs:
        if (model, rid) in seen:
            related.append({"model": model, "id": rid, "cycle": True})
            continue
        try:
            related.append(_read(pool, model, rid, None, depth, seen, budget))
        except LimitExceeded:
            raise
        except DebugError as exc:
            related.append({"model": model, "id": rid, "error": str(exc)})
    if field._type in ("many2one", "one2one", "reference"):
        return {"record": related[0]} if related else {}
    out: dict[str, Any] = {"records": related}
    if len(value) > MAX_RELATED:
        out["truncated"] = len(value) - MAX_RELATED
    return out


def eval_context(Model, values: dict[str, Any]) -> dict[str, Any]:
    """What the client evaluates a record's PYSON against: field values plus the context."""
    from trytond.transaction import Transaction

    context = {k: v for k, v in values.items() if k in Model._fields}
    context["id"] = values.get("id")
    context["context"] = dict(Transaction().context)
    return context


def field_states(Model, values: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Each field's states evaluated on the record: why a field is read-only, invisible..."""
    from trytond.pyson import PYSONDecoder, PYSONEncoder

    context = eval_context(Model, values)
    out: dict[str, Any] = {}
    for name in names:
        states = getattr(Model._fields[name], "states", None) or {}
        evaluated = {}
        for key, expression in states.items():
            try:
                result = PYSONDecoder(context).decode(PYSONEncoder().encode(expression))
            except Exception as exc:  # a state that cannot evaluate is worth seeing
                result = f"error: {exc.__class__.__name__}: {exc}"
            evaluated[key] = {"value": jsonable(result), "expression": render(expression)}
        if evaluated:
            out[name] = evaluated
    return out


def record_context(pool, model: str, record_id: int, user: str | None = None) -> dict[str, Any]:
    """The PYSON evaluation context of one record (for `pyson eval --model --id`)."""
    Model = get_model(pool, model)
    with as_user(pool, user):
        found = Model.search([("id", "=", record_id)])
        if not found:
            raise DebugError(f"no {model} record with id {record_id} (or not visible)")
        names = sorted(Model.fields_get())
        values = Model.read([record_id], names)[0]
        return eval_context(Model, values)
