"""PYSON as developers write it: readable rendering, encode, decode and evaluation.

`readable()` prints PYSON the way it is written in a module (`Eval('state') != 'draft'`,
`~Eval('active')`, `a & b`), and that text encodes back to the same PYSON JSON, so decode and
encode round-trip.
"""

from __future__ import annotations

import json
from typing import Any

from tryton_ops.debug.errors import DebugError

_COMPARISONS = {"Equal": "==", "Greater": ">", "Less": "<"}


def _pyson():
    from trytond import pyson

    return pyson


def _is_pyson(value: Any) -> bool:
    return isinstance(value, _pyson().PYSON)


def contains_pyson(value: Any) -> bool:
    if _is_pyson(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains_pyson(v) for v in value)
    if isinstance(value, dict):
        return any(contains_pyson(v) for v in value.values())
    return False


def render(value: Any) -> Any:
    """JSON-ready form of a field attribute: plain values as they are, PYSON as readable text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if not contains_pyson(value) and not value:
        return None
    return readable(value)


def readable(value: Any) -> str:
    """PYSON (objects, or lists/dicts holding some) as the Python source that builds it."""
    return _render(value, nested=False)


def _wrap(text: str, nested: bool) -> str:
    return f"({text})" if nested else text


def _render(value: Any, nested: bool = True) -> str:
    if not _is_pyson(value):
        if isinstance(value, list):
            return "[" + ", ".join(_render(v, False) for v in value) + "]"
        if isinstance(value, tuple):
            inner = ", ".join(_render(v, False) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, dict):
            items = ", ".join(f"{k!r}: {_render(v, False)}" for k, v in value.items())
            return "{" + items + "}"
        return repr(value)
    name = type(value).__name__
    data = value.pyson() if name != "Id" else None
    if name == "Eval":
        if data["d"] == "":
            return f"Eval({data['v']!r})"
        return f"Eval({data['v']!r}, {_render(data['d'], False)})"
    if name == "Not":
        inner = data["v"]
        if _is_pyson(inner) and type(inner).__name__ == "Equal":
            eq = inner.pyson()
            return _wrap(f"{_render(eq['s1'])} != {_render(eq['s2'])}", nested)
        if _is_pyson(inner) and type(inner).__name__ == "Bool":
            target = inner.pyson()["v"]
            if _is_pyson(target) and target.types() != {bool}:
                return f"~{_render(target)}"
        return f"~{_render(inner)}"
    if name in ("And", "Or"):
        statements = data["s"]
        flattened = any(type(s).__name__ == name for s in statements)
        if len(statements) < 2 or not _is_pyson(statements[0]) or flattened:
            return f"{name}({', '.join(_render(s, False) for s in statements)})"
        op = " & " if name == "And" else " | "
        return _wrap(op.join(_render(s) for s in statements), nested)
    if name in _COMPARISONS:
        s1, s2 = data["s1"], data["s2"]
        if not _is_pyson(s1):
            args = ", ".join(_render(v, False) for v in (s1, s2))
            extra = ", True" if data.get("e") else ""
            return f"{name}({args}{extra})"
        op = _COMPARISONS[name] + ("=" if data.get("e") else "")
        return _wrap(f"{_render(s1)} {op} {_render(s2)}", nested)
    if name == "In":
        if _is_pyson(data["k"]):
            return f"{_render(data['k'])}.in_({_render(data['v'], False)})"
        return f"In({_render(data['k'], False)}, {_render(data['v'], False)})"
    if name == "Get":
        if _is_pyson(data["v"]):
            return f"{_render(data['v'])}.get({data['k']!r}, {_render(data['d'], False)})"
        return f"Get({_render(data['v'], False)}, {data['k']!r}, {_render(data['d'], False)})"
    if name == "Bool":
        return f"Bool({_render(data['v'], False)})"
    if name == "If":
        return "If({})".format(", ".join(_render(data[k], False) for k in ("c", "t", "e")))
    if name == "Len":
        return f"Len({_render(data['v'], False)})"
    if name == "Id":
        return f"Id({value._module!r}, {value._fs_id!r})"
    if name == "TimeDelta":
        data = {"days": data["d"], "seconds": data["s"], "microseconds": data["m"]}
    # Date, DateTime, TimeDelta: keyword form with the non-default values only
    args = {k: v for k, v in data.items() if k != "__class__" and not _is_default(v)}
    return f"{name}(" + ", ".join(f"{k}={_render(v, False)}" for k, v in args.items()) + ")"


def _is_default(value: Any) -> bool:
    return value is None or (type(value) is int and value == 0)


def namespace() -> dict[str, Any]:
    """Names available to PYSON expressions (the PYSON classes, as in `trytond.pyson`)."""
    pyson = _pyson()
    names = {name: getattr(pyson, name) for name in pyson.CONTEXT if name[0].isupper()}
    names.update({"true": True, "false": False, "null": None})
    return names


def build(expression: str) -> Any:
    """A PYSON object (or structure) from Python source such as `Eval('state') == 'done'`."""
    try:
        code = compile(expression, "<pyson>", "eval")
    except SyntaxError as exc:
        raise DebugError(f"invalid PYSON expression: {exc.msg} (column {exc.offset})") from None
    try:
        return eval(code, {"__builtins__": {}}, namespace())
    except Exception as exc:
        raise DebugError(f"invalid PYSON expression: {exc.__class__.__name__}: {exc}") from None


def encode(expression: str) -> str:
    """Python source -> PYSON JSON (what trytond sends to clients)."""
    value = build(expression)
    try:
        return _pyson().PYSONEncoder(sort_keys=True).encode(value)
    except Exception as exc:
        raise DebugError(f"cannot encode: {exc.__class__.__name__}: {exc}") from None


def decode(text: str) -> Any:
    """PYSON JSON -> PYSON objects (not evaluated)."""
    try:
        return _pyson().PYSONDecoder(noeval=True).decode(text)
    except json.JSONDecodeError as exc:
        raise DebugError(f"invalid PYSON JSON: {exc}") from None
    except Exception as exc:
        raise DebugError(f"invalid PYSON: {exc.__class__.__name__}: {exc}") from None


def parse(text: str) -> Any:
    """Either form: JSON if it parses as JSON holding PYSON, else a Python expression."""
    stripped = text.strip()
    if stripped[:1] in "{[" and '"__class__"' in stripped:
        return decode(stripped)
    return build(stripped)


def evaluate(text: str, context: dict[str, Any]) -> Any:
    """Evaluate PYSON (JSON or Python form) against `context`, as a client would."""
    value = parse(text)
    encoded = _pyson().PYSONEncoder().encode(value)
    try:
        return _pyson().PYSONDecoder(context).decode(encoded)
    except Exception as exc:
        raise DebugError(f"cannot evaluate: {exc.__class__.__name__}: {exc}") from None
