"""Where code comes from: Tryton module of a class, file:line, and whether it calls super().

A pool class is assembled from one class per module; the Python module of each class tells
which Tryton module contributed it (`trytond.modules.<name>...`, `trytond.ir`/`trytond.res`, or
the package of a `trytond.modules` entry point).
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from importlib.metadata import entry_points
from typing import Any

POOL_MODULE = "trytond.pool"  # classes built by Pool.fill/setup_mixin are created there


@functools.cache
def _entry_point_packages() -> tuple[tuple[str, str], ...]:
    """(package, module name) of modules installed under the `trytond.modules` entry point."""
    found = [(ep.value.split(":")[0], ep.name) for ep in entry_points(group="trytond.modules")]
    return tuple(sorted(found, key=lambda item: -len(item[0])))


def tryton_module(python_module: str) -> str | None:
    """The Tryton module a Python module belongs to; None for the framework itself."""
    parts = python_module.split(".")
    if parts[:2] == ["trytond", "modules"] and len(parts) > 2:
        return parts[2]
    if parts[:2] in (["trytond", "ir"], ["trytond", "res"]):
        return parts[1]
    for package, name in _entry_point_packages():
        if python_module == package or python_module.startswith(package + "."):
            return name
    return None


def is_pool_class(cls: type) -> bool:
    """A class trytond built at pool start to stack the modules' classes (no source)."""
    return cls.__module__ == POOL_MODULE


def unwrap(obj: Any) -> Any:
    """The plain function behind classmethod/staticmethod/property and functools.wraps."""
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    elif isinstance(obj, property):
        obj = obj.fget
    try:
        return inspect.unwrap(obj)
    except ValueError:
        return obj


def location(obj: Any) -> dict[str, Any]:
    """{"file", "line"} of a class or function; None values when Python cannot tell."""
    target = unwrap(obj)
    try:
        file = inspect.getsourcefile(target)
    except TypeError:
        file = None
    line = None
    if file:
        try:
            line = inspect.getsourcelines(target)[1]
        except (OSError, TypeError):
            line = None
        if line == 0:  # a module
            line = 1
    return {"file": file, "line": line}


def where(loc: dict[str, Any]) -> str:
    if not loc.get("file"):
        return "?"
    return f"{loc['file']}:{loc['line']}" if loc.get("line") else loc["file"]


@functools.cache
def _function_ast(func: Any) -> ast.AST | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _super_target(node: ast.AST) -> str | None:
    """The attribute called on a `super()` / `super(X, self)` object, if `node` is one."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    base = node.func.value
    if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
        return node.func.attr
    return None


def super_calls(func: Any) -> set[str] | None:
    """Names of the methods called through super() in `func`; None without source."""
    tree = _function_ast(unwrap(func))
    if tree is None:
        return None
    names = set()
    for node in ast.walk(tree):
        target = _super_target(node)
        if target is not None:
            names.add(target)
    return names


def calls_super(func: Any, name: str) -> bool | None:
    """Whether `func` calls `super().<name>(...)`; None when its source is unavailable."""
    calls = super_calls(func)
    if calls is None:
        return None
    return name in calls


def describe_class(cls: type) -> dict[str, Any]:
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "module": tryton_module(cls.__module__),
        **location(cls),
    }
