"""How activated modules compose a model: classes, fields, method overrides, views, checks.

Pure functions over a loaded Pool (call them inside a transaction of its database). Results are
plain JSON-ready dicts so the CLI, the RPC methods and editors share one shape.
"""

from __future__ import annotations

import fnmatch
import inspect
from typing import Any

from tryton_ops.debug import sources
from tryton_ops.debug.errors import unknown
from tryton_ops.debug.pysonfmt import render

# Framework methods whose overrides must chain to the parent (dropping the super() call skips
# every other module's behaviour); other framework hooks are often legitimately replaced.
MUST_CHAIN = frozenset(
    {
        "__setup__",
        "__post_setup__",
        "__register__",
        "__access__",
        "create",
        "write",
        "delete",
        "copy",
        "read",
        "search",
        "search_count",
        "validate",
        "pre_validate",
        "default_get",
        "fields_get",
        "view_attributes",
        "check_xml_record",
        "on_modification",
        "on_write",
        "on_delete",
        "on_change",
        "on_change_with",
    }
)


CHAINED_DUNDERS = ("__setup__", "__post_setup__", "__register__")


def model_names(pool) -> list[str]:
    return sorted(name for name, _ in pool.iterobject(type="model"))


def get_model(pool, name: str):
    try:
        return pool.get(name)
    except KeyError:
        raise unknown("model", name, model_names(pool)) from None


def module_classes(Model) -> list[type]:
    """The classes modules and the framework contributed, most derived first (MRO order)."""
    return [cls for cls in Model.__mro__ if cls is not object and not sources.is_pool_class(cls)]


def contributing_modules(Model) -> list[str]:
    """Tryton modules that contributed a class to the model, base first."""
    found: list[str] = []
    for cls in reversed(module_classes(Model)):
        module = sources.tryton_module(cls.__module__)
        if module and module not in found:
            found.append(module)
    return found


def list_models(pool, pattern: str | None = None) -> list[dict[str, Any]]:
    """Models whose name matches a glob (`party.*`) or contains `pattern`; all without one."""
    rows = []
    for name in model_names(pool):
        if pattern and not _matches(name, pattern):
            continue
        Model = pool.get(name)
        rows.append(
            {
                "model": name,
                "string": getattr(Model, "__string__", None) or "",
                "modules": contributing_modules(Model),
                "fields": len(getattr(Model, "_fields", {})),
            }
        )
    return rows


def _matches(name: str, pattern: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern.lower() in name.lower()


# --- classes and fields -------------------------------------------------------------------


def class_chain(Model) -> list[dict[str, Any]]:
    return [sources.describe_class(cls) for cls in module_classes(Model)]


def field_declarations(Model, name: str) -> list[dict[str, Any]]:
    """Classes that declare (or redeclare) field `name`, base first, with file:line."""
    from trytond.model.fields import Field

    found = []
    for cls in reversed(module_classes(Model)):
        if not isinstance(cls.__dict__.get(name), Field):
            continue
        entry = sources.describe_class(cls)
        entry["line"] = sources.declaration_line(cls, name) or entry["line"]
        found.append(entry)
    return found


def _relation(field) -> dict[str, Any]:
    out: dict[str, Any] = {}
    get_target = getattr(field, "get_target", None)
    if callable(get_target):
        try:
            out["relation"] = get_target().__name__
        except Exception:  # a broken target is reported as missing, not a crash
            out["relation"] = getattr(field, "model_name", None)
    if getattr(field, "field", None) and field._type == "one2many":
        out["relation_field"] = field.field
    if field._type == "many2many":
        out["relation_model"] = getattr(field, "relation_name", None)
        out["origin"] = getattr(field, "origin", None)
        out["target"] = getattr(field, "target", None)
    if field._type in ("selection", "multiselection", "reference"):
        selection = getattr(field, "selection", None)
        out["selection"] = selection if isinstance(selection, str) else render(selection)
    return out


def _method_ref(Model, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    attr = inspect.getattr_static(Model, name, None)
    if attr is None:
        return {"method": name, "missing": True}
    owner = _defining_class(Model, name)
    out = {"method": name, **sources.location(attr)}
    if owner is not None:
        out["module"] = sources.tryton_module(owner.__module__)
    return out


def _defining_class(Model, name: str) -> type | None:
    for cls in module_classes(Model):
        if name in cls.__dict__:
            return cls
    return None


def _labels(Model, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Translated string/help per field (fields_get resolves the lazy message ids)."""
    try:
        return Model.fields_get(names)
    except Exception:  # access or translation trouble: fall back to the raw attributes
        return {}


def describe_field(
    Model, name: str, with_declarations: bool = True, labels: dict | None = None
) -> dict[str, Any]:
    from trytond.model import fields

    field = Model._fields.get(name)
    if field is None:
        raise unknown(f"field of {Model.__name__}", name, Model._fields)
    function = isinstance(field, fields.Function)
    label = (labels if labels is not None else _labels(Model, [name])).get(name, {})
    out: dict[str, Any] = {
        "name": name,
        "type": field._type,
        "string": label.get("string") or (str(field.string) if field.string else ""),
        "help": label.get("help") or (str(field.help) if getattr(field, "help", None) else ""),
        "required": render(field.required),
        "readonly": render(field.readonly),
        "states": {key: render(value) for key, value in (field.states or {}).items()},
        "domain": render(field.domain) if getattr(field, "domain", None) else None,
        "depends": sorted(field.depends or ()),
        "context": render(field.context) if getattr(field, "context", None) else None,
        "function": function,
        **_relation(field),
    }
    if function:
        out["getter"] = _method_ref(Model, field.getter)
        out["setter"] = _method_ref(Model, field.setter)
        out["searcher"] = _method_ref(Model, field.searcher)
    for kind in ("on_change", "on_change_with"):
        method = f"{kind}_{name}"
        deps = sorted(getattr(field, kind, None) or ())
        if deps or inspect.getattr_static(Model, method, None) is not None:
            out[kind] = {"depends": deps, **(_method_ref(Model, method) or {})}
    default = f"default_{name}"
    if inspect.getattr_static(Model, default, None) is not None:
        out["default"] = _method_ref(Model, default)
    if with_declarations:
        out["declared"] = field_declarations(Model, name)
    return out


def describe_model(pool, name: str, views: bool = True) -> dict[str, Any]:
    Model = get_model(pool, name)
    names = sorted(Model._fields)
    labels = _labels(Model)
    out = {
        "model": name,
        "string": getattr(Model, "__string__", None) or "",
        "modules": contributing_modules(Model),
        "classes": class_chain(Model),
        "fields": [describe_field(Model, field, labels=labels) for field in names],
        "rpc": sorted(getattr(Model, "__rpc__", {})),
    }
    if views:
        out["views"] = model_views(pool, name)
    return out


# --- methods ------------------------------------------------------------------------------


def method_names(Model) -> list[str]:
    return sorted(
        name
        for name in dir(Model)
        if callable(inspect.getattr_static(Model, name, None))
        or isinstance(inspect.getattr_static(Model, name, None), (classmethod, staticmethod))
    )


def overrides(Model, name: str) -> list[dict[str, Any]]:
    """Each definition of method `name` in MRO order (the one that runs first is first)."""
    chain = []
    for cls in module_classes(Model):
        if name not in cls.__dict__:
            continue
        attr = cls.__dict__[name]
        func = sources.unwrap(attr)
        entry = sources.describe_class(cls)
        entry.update(sources.location(attr))
        entry["kind"] = _kind(attr)
        entry["signature"] = _signature(func)
        entry["calls_super"] = sources.calls_super(func, name)
        chain.append(entry)
    return chain


def _kind(attr: Any) -> str:
    if isinstance(attr, classmethod):
        return "classmethod"
    if isinstance(attr, staticmethod):
        return "staticmethod"
    if isinstance(attr, property):
        return "property"
    return "method" if callable(attr) else type(attr).__name__


def _signature(func: Any) -> str | None:
    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return None


def describe_member(pool, model: str, member: str) -> dict[str, Any]:
    """`MODEL.METHOD`: the override chain; `MODEL.FIELD`: the field (with its declarations)."""
    Model = get_model(pool, model)
    if member in getattr(Model, "_fields", {}):
        return {"model": model, "field": describe_field(Model, member)}
    chain = overrides(Model, member)
    if not chain:
        candidates = set(method_names(Model)) | set(Model._fields)
        raise unknown(f"method or field of {model}", member, candidates)
    return {"model": model, "method": member, "overrides": chain}


def split_target(pool, target: str) -> tuple[str, str | None]:
    """`party.party.write` -> ("party.party", "write"): the longest prefix naming a model."""
    names = set(model_names(pool))
    if target in names:
        return target, None
    model, _, member = target.rpartition(".")
    if model in names and member:
        return model, member
    raise unknown("model", target, names)


# --- override checks ----------------------------------------------------------------------


def _parameters(attr: Any) -> list[inspect.Parameter] | None:
    """Parameters as callers pass them: without cls/self unless a staticmethod."""
    try:
        params = list(inspect.signature(sources.unwrap(attr)).parameters.values())
    except (TypeError, ValueError):
        return None
    if not isinstance(attr, staticmethod) and params:
        first = params[0]
        if first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD):
            params = params[1:]
    return params


def signature_problem(child: Any, parent: Any) -> str | None:
    """Why `child` cannot be called the way `parent` is, or None when it can (class attributes:
    functions, classmethods or staticmethods)."""
    cparams, pparams = _parameters(child), _parameters(parent)
    if cparams is None or pparams is None:
        return None
    kinds = inspect.Parameter
    c_var_pos = any(p.kind == kinds.VAR_POSITIONAL for p in cparams)
    c_var_kw = any(p.kind == kinds.VAR_KEYWORD for p in cparams)
    positional = (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    c_pos = [p for p in cparams if p.kind in positional]
    p_pos = [p for p in pparams if p.kind in positional]
    c_named = {p.name: p for p in cparams if p.kind != kinds.VAR_POSITIONAL}
    empty = inspect.Parameter.empty
    for index, param in enumerate(p_pos):
        if index < len(c_pos):
            mine = c_pos[index]
            # Required parameters are passed by position in Tryton (`records` renamed
            # `parties` is the convention); optional ones are often passed by name.
            if param.default is not empty and mine.name != param.name and not c_var_kw:
                return f"optional parameter {param.name!r} is named {mine.name!r} here"
            if param.default is not empty and mine.default is empty:
                return f"parameter {mine.name!r} is required here, optional in the parent"
        elif not c_var_pos and not (param.default is not empty and c_var_kw):
            return f"missing parameter {param.name!r}"
    for param in pparams:
        if param.kind == kinds.KEYWORD_ONLY and param.name not in c_named and not c_var_kw:
            return f"missing keyword-only parameter {param.name!r}"
    if any(p.kind == kinds.VAR_POSITIONAL for p in pparams) and not c_var_pos:
        return "parent accepts *args, override does not"
    if any(p.kind == kinds.VAR_KEYWORD for p in pparams) and not c_var_kw:
        return "parent accepts **kwargs, override does not"
    extra = [
        p
        for p in cparams
        if p.default is inspect.Parameter.empty
        and p.kind in (*positional, kinds.KEYWORD_ONLY)
        and p.name not in {q.name for q in pparams}
        and (p.kind == kinds.KEYWORD_ONLY or c_pos.index(p) >= len(p_pos))
    ]
    if extra:
        return f"new required parameter {extra[0].name!r}"
    return None


def check_model(Model, methods: list[str] | None = None) -> list[dict[str, Any]]:
    """Suspicious overrides of one model: signature mismatches and missing super() calls."""
    findings = []
    classes = module_classes(Model)
    names = methods if methods is not None else _overridden_names(classes)
    for name in names:
        defining = [cls for cls in classes if name in cls.__dict__]
        for index, cls in enumerate(defining[:-1]):
            module = sources.tryton_module(cls.__module__)
            if module is None:
                continue  # framework classes are not the user's code
            attr, parent_cls = cls.__dict__[name], defining[index + 1]
            if not callable(sources.unwrap(attr)) or isinstance(attr, property):
                continue
            func = sources.unwrap(attr)
            parent_attr = parent_cls.__dict__[name]
            parent = sources.unwrap(parent_attr)
            base = {
                "model": Model.__name__,
                "method": name,
                "module": module,
                **sources.location(attr),
                "parent_module": sources.tryton_module(parent_cls.__module__),
                "parent": sources.where(sources.location(parent_cls.__dict__[name])),
            }
            problem = signature_problem(attr, parent_attr)
            if problem:
                findings.append(
                    {
                        **base,
                        "check": "signature",
                        "message": f"{problem}: {_signature(func)} vs parent {_signature(parent)}",
                    }
                )
            chained = sources.calls_super(func, name)
            parent_is_module = sources.tryton_module(parent_cls.__module__) is not None
            if chained is False and (parent_is_module or name in MUST_CHAIN):
                findings.append(
                    {
                        **base,
                        "check": "no-super",
                        "message": "never calls super()."
                        f"{name}(): the parent's code (and every module before) is skipped",
                    }
                )
    return findings


def _overridden_names(classes: list[type]) -> list[str]:
    seen: dict[str, int] = {}
    for cls in classes:
        for name in cls.__dict__:
            if name.startswith("__") and name not in (
                "__setup__",
                "__post_setup__",
                "__register__",
            ):
                continue
            seen[name] = seen.get(name, 0) + 1
    return sorted(name for name, count in seen.items() if count > 1)


def check_overrides(pool, model: str | None = None) -> list[dict[str, Any]]:
    names = [model] if model else model_names(pool)
    findings = []
    for name in names:
        findings.extend(check_model(get_model(pool, name)))
    return findings


# --- views --------------------------------------------------------------------------------


def _view_file(module: str | None, name: str | None) -> str | None:
    if not module or not name:
        return None
    from trytond.tools import file_open

    try:
        with file_open(f"{module}/view/{name}.xml", subdir="modules") as fh:
            return fh.name
    except (OSError, ValueError):
        return None


def _view_row(view, order: list[str]) -> dict[str, Any]:
    return {
        "id": view.id,
        "model": view.model,
        "type": view.type,
        "name": view.name,
        "module": view.module,
        "priority": view.priority,
        "inherit": view.inherit.id if view.inherit else None,
        "file": _view_file(view.module, view.name),
    }


def model_views(pool, model: str, arch: bool = True) -> list[dict[str, Any]]:
    """Base views of the model, each with the views inheriting it and the final architecture."""
    from trytond.transaction import Transaction

    Model = get_model(pool, model)
    View = pool.get("ir.ui.view")
    order = list(getattr(pool, "_modules", []) or [])
    with Transaction().set_context(active_test=False):
        bases = View.search([("model", "=", model), ("inherit", "=", None)], order=[("id", "ASC")])
        out = []
        for base in bases:
            row = _view_row(base, order)
            row["inherited_by"] = _inheriting(View, base, order)
            if arch and hasattr(Model, "fields_view_get") and base.type:
                try:
                    row["arch"] = Model.fields_view_get(view_id=base.id, view_type=base.type)[
                        "arch"
                    ]
                except Exception as exc:  # a broken view is what the user wants to see
                    row["arch_error"] = f"{exc.__class__.__name__}: {exc}"
            out.append(row)
    return out


def _inheriting(View, base, order: list[str]) -> list[dict[str, Any]]:
    children = View.search([("inherit", "=", base.id)])
    index = {name: i for i, name in enumerate(order)}
    children = sorted(children, key=lambda v: (index.get(v.module, -1), v.id))
    rows = []
    for child in children:
        row = _view_row(child, order)
        row["inherited_by"] = _inheriting(View, child, order)
        rows.append(row)
    return rows
