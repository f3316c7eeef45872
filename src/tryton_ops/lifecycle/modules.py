"""Which trytond modules are installed, found without importing trytond."""

from __future__ import annotations

import importlib.util
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path

BUILTIN = frozenset({"ir", "res"})


def installed_modules() -> set[str]:
    """The names trytond's `get_modules()` would return (built-ins, modules/ and entry points)."""
    names = set(BUILTIN)
    spec = importlib.util.find_spec("trytond")
    if spec is None or not spec.submodule_search_locations:
        return set()
    for location in spec.submodule_search_locations:
        names.update(m.name for m in pkgutil.iter_modules([str(Path(location) / "modules")]))
    names.update(ep.name for ep in entry_points(group="trytond.modules"))
    return names


def missing_modules(wanted: list[str]) -> list[str]:
    available = installed_modules()
    return [name for name in wanted if name not in available]


def install_hint(name: str) -> str:
    return f"pip install trytond_{name}"


def _trytond_dirs() -> list[Path]:
    spec = importlib.util.find_spec("trytond")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(location) for location in spec.submodule_search_locations]


def module_dir(name: str) -> Path | None:
    """Directory of a module's files (tryton.cfg, Python, XML), found without importing trytond."""
    for base in _trytond_dirs():
        candidate = base / name if name in BUILTIN else base / "modules" / name
        if (candidate / "tryton.cfg").is_file():
            return candidate
    for ep in entry_points(group="trytond.modules"):
        if ep.name != name:
            continue
        package = ep.value.split(":")[0]
        if package.startswith("trytond.modules."):
            for base in _trytond_dirs():
                candidate = base / "modules" / package.rsplit(".", 1)[1]
                if (candidate / "tryton.cfg").is_file():
                    return candidate
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
    return None


def module_depends(name: str) -> list[str]:
    """The `depends` of a module's tryton.cfg (extras_depend are optional, left out)."""
    import configparser

    folder = module_dir(name)
    if folder is None:
        return []
    cfg_file = folder / "tryton.cfg"
    parser = configparser.ConfigParser()
    parser.read(cfg_file)
    raw = parser.get("tryton", "depends", fallback="")
    return [dep.strip() for dep in raw.split() if dep.strip()]


def dependency_closure(names: list[str]) -> list[str]:
    """The modules and everything they depend on, dependencies first."""
    seen: dict[str, None] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen or name in path:
            return
        for dep in module_depends(name):
            visit(dep, (*path, name))
        seen[name] = None

    for name in ["ir", "res", *names]:
        visit(name, ())
    return list(seen)


def dependents(changed: set[str], activated: list[str]) -> set[str]:
    """Activated modules depending, directly or not, on one of `changed` (changed included)."""
    result = set(changed)
    grew = True
    while grew:
        grew = False
        for name in activated:
            if name not in result and result.intersection(module_depends(name)):
                result.add(name)
                grew = True
    return result


def module_version(name: str) -> str | None:
    """The `version` of a module's tryton.cfg (None when it declares none)."""
    import configparser

    folder = module_dir(name)
    if folder is None:
        return None
    parser = configparser.ConfigParser()
    parser.read(folder / "tryton.cfg")
    return parser.get("tryton", "version", fallback=None)
