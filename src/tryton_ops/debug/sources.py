"""Where code comes from: Tryton module of a class, file:line, and whether it calls super().

A pool class is assembled from one class per module; the Python module of each class tells
which Tryton module contributed it (`trytond.modules.<name>...`, `trytond.ir`/`trytond.res`, or
the package of a `trytond.modules` entry point).
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import re
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


@functools.cache
def _class_spans(filename: str) -> dict[str, tuple[int, int]]:
    """qualname -> (first line, last line) of every class of a file, from one parse."""
    lines = linecache.getlines(filename)
    try:
        tree = ast.parse("".join(lines), filename)
    except (SyntaxError, ValueError):
        return {}
    spans: dict[str, tuple[int, int]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = prefix + child.name
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                spans.setdefault(name, (first, child.end_lineno or child.lineno))
                visit(child, name + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, prefix + child.name + ".<locals>.")

    visit(tree, "")
    return spans


def _source_file(obj: Any) -> str | None:
    try:
        return inspect.getsourcefile(obj)
    except TypeError:
        return None


def class_span(cls: type) -> tuple[str | None, int | None, int | None]:
    """(file, first line, last line) of a class, parsing each file once."""
    file = _source_file(cls)
    if not file:
        return None, None, None
    span = _class_spans(file).get(cls.__qualname__)
    if span is None:
        return file, None, None
    return file, span[0], span[1]


def location(obj: Any) -> dict[str, Any]:
    """{"file", "line"} of a class or function; None values when Python cannot tell."""
    target = unwrap(obj)
    if isinstance(target, type):
        file, line, _ = class_span(target)
        return {"file": file, "line": line}
    code = getattr(target, "__code__", None)
    file = _source_file(target) if code is not None else None
    if not file:
        return {"file": None, "line": None}
    return {"file": file, "line": _def_line(file, code.co_firstlineno, code.co_name)}


def _def_line(file: str, first: int, name: str) -> int:
    """The `def` line itself: co_firstlineno points at the first decorator."""
    lines = linecache.getlines(file)
    pattern = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(name)}\b")
    for number in range(first, min(first + 30, len(lines)) + 1):
        if pattern.match(lines[number - 1]):
            return number
    return first


def declaration_line(cls: type, name: str) -> int | None:
    """Line where the class body assigns `name` (a field declaration)."""
    file, first, last = class_span(cls)
    if not file or not first:
        return None
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*(:[^=]*)?=(?!=)")
    lines = linecache.getlines(file)
    for number in range(first, (last or first) + 1):
        if pattern.match(lines[number - 1]):
            return number
    return None


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
