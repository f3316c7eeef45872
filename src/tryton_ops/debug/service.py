"""The debug actions, one entry point for the runner subprocess and the RPC methods.

Each action takes JSON parameters and returns JSON-ready data; it runs inside a transaction the
caller started (and, for `eval`, commits or rolls back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tryton_ops.debug import introspect, pysonfmt, records, sources
from tryton_ops.debug.errors import DebugError
from tryton_ops.debug.history import LocalHistory

HISTORY_MODEL = "ops.debug.eval"


def inspect_target(
    pool, target: str | None = None, views: bool = True, arch: bool = True
) -> dict[str, Any]:
    """No target or a pattern: the matching models; MODEL; MODEL.METHOD or MODEL.FIELD."""
    if not target or any(c in target for c in "*?["):
        return {"kind": "models", "models": introspect.list_models(pool, target)}
    try:
        model, member = introspect.split_target(pool, target)
    except DebugError:
        matches = introspect.list_models(pool, target)
        if matches:
            return {"kind": "models", "models": matches}
        raise
    if member is None:
        data = introspect.describe_model(pool, model, views=views)
        if not arch:
            _drop_arch(data.get("views", []))
        return {"kind": "model", **data}
    data = introspect.describe_member(pool, model, member)
    return {"kind": "field" if "field" in data else "method", **data}


def inspect_all(pool, views: bool = True) -> dict[str, Any]:
    """Describe every model (what an editor integration preloads); timed."""
    import time

    started = time.perf_counter()
    names = introspect.model_names(pool)
    described = [introspect.describe_model(pool, name, views=views) for name in names]
    return {
        "models": len(described),
        "fields": sum(len(d["fields"]) for d in described),
        "views": sum(len(d.get("views", [])) for d in described),
        "seconds": round(time.perf_counter() - started, 3),
        "described": described,
    }


def _drop_arch(views: list[dict[str, Any]]) -> None:
    for view in views:
        view.pop("arch", None)


def checks(pool, model: str | None = None) -> dict[str, Any]:
    findings = introspect.check_overrides(pool, model)
    return {"findings": findings, "models": 1 if model else len(introspect.model_names(pool))}


def locate(pool, target: str) -> dict[str, Any]:
    """file:line of MODEL (its most derived module class), MODEL.METHOD or MODEL.FIELD."""
    model, member = introspect.split_target(pool, target)
    Model = introspect.get_model(pool, model)
    if member is None:
        classes = [
            c for c in introspect.module_classes(Model) if sources.tryton_module(c.__module__)
        ]
        if not classes:
            raise DebugError(f"{model} has no class in a module")
        return sources.describe_class(classes[0])
    if member in getattr(Model, "_fields", {}):
        declared = introspect.field_declarations(Model, member)
        if declared:
            return declared[-1]
    chain = introspect.overrides(Model, member)
    if not chain:
        introspect.describe_member(pool, model, member)  # raises with suggestions
    return chain[0]


def record(
    pool,
    model: str,
    id: int,
    fields: list[str] | None = None,
    depth: int = 1,
    user: str | None = None,
) -> dict[str, Any]:
    return records.explore(pool, model, int(id), fields=fields, depth=int(depth), user=user)


def pyson(
    pool,
    op: str,
    text: str,
    model: str | None = None,
    id: int | None = None,
    context: dict[str, Any] | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """encode (Python -> JSON), decode (JSON -> readable), eval (against a record/context)."""
    if op == "encode":
        encoded = pysonfmt.encode(text)
        return {"json": encoded, "readable": pysonfmt.readable(pysonfmt.decode(encoded))}
    if op == "decode":
        return {"readable": pysonfmt.readable(pysonfmt.decode(text))}
    if op == "eval":
        values: dict[str, Any] = {}
        if model is not None:
            if id is None:
                raise DebugError("evaluating against a record needs both a model and an id")
            values = records.record_context(pool, model, int(id), user=user)
        values.update(context or {})
        result = pysonfmt.evaluate(text, values)
        return {
            "value": records.jsonable(result),
            "readable": pysonfmt.readable(pysonfmt.parse(text)),
        }
    raise DebugError(f"unknown PYSON operation {op!r} (encode, decode or eval)")


def evaluate(
    pool,
    code: str,
    filename: str = "<eval>",
    timeout: float | None = None,
    commit: bool = False,
) -> dict[str, Any]:
    """Run code (the caller commits only if `commit` and no error, else rolls back; what the
    code committed itself, allowed only with `commit`, stays committed even after an error)."""
    from tryton_ops.debug.evaluate import run_code

    out = run_code(pool, code, filename=filename, timeout=timeout, commit=commit)
    out["committed"] = bool(commit and (out["error"] is None or out["code_commits"]))
    return out


def log_eval(pool, code: str, result: dict[str, Any], local: LocalHistory | None = None) -> None:
    """Append to the per-user history: in the database when ops_debug is activated, else in
    the `local` file store (in-process evaluations), else nowhere."""
    try:
        History = pool.get(HISTORY_MODEL)
    except KeyError:
        if local is not None:
            local.append(code, result)
        return
    History.log(code, result)


def history(pool, limit: int = 20, local: LocalHistory | None = None) -> list[dict[str, Any]]:
    try:
        History = pool.get(HISTORY_MODEL)
    except KeyError:
        if local is not None:
            return local.recent(int(limit))
        raise DebugError("history needs the ops_debug module activated in this database") from None
    return History.recent(int(limit))


ACTIONS: dict[str, Callable[..., Any]] = {
    "inspect": inspect_target,
    "inspect_all": inspect_all,
    "checks": checks,
    "locate": locate,
    "record": record,
    "pyson": pyson,
    "eval": evaluate,
    "history": history,
}


def call(pool, action: str, params: dict[str, Any] | None = None) -> Any:
    try:
        function = ACTIONS[action]
    except KeyError:
        raise DebugError(f"unknown action {action!r}", sorted(ACTIONS)) from None
    try:
        return function(pool, **(params or {}))
    except TypeError as exc:
        if "argument" in str(exc) and exc.__traceback__.tb_next is None:
            raise DebugError(f"{action}: {exc}") from None
        raise
