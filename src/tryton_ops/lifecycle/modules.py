"""Which trytond modules are installed, found without importing trytond."""

from __future__ import annotations

import difflib
import importlib.util
import pkgutil
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path

from tryton_ops.access.database import DatabaseError
from tryton_ops.errors import EXIT_USAGE
from tryton_ops.lifecycle.standard_modules import STANDARD_MODULES

BUILTIN = frozenset({"ir", "res"})


class ModuleNotInstalled(DatabaseError):
    """A module name that trytond would not find: a typo or a package to install (exit 2,
    nothing was touched)."""

    exit_code = EXIT_USAGE


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


def check_installed(wanted: list[str]) -> None:
    """Refuse module names trytond would not find, each with what to type or install."""
    missing = missing_modules(wanted)
    if missing:
        hints = "; ".join(f"{name}: {install_hint(name)}" for name in missing)
        raise ModuleNotInstalled(f"module(s) not installed: {hints}")


def pip_requirement(name: str) -> str:
    """`trytond_<name>`, pinned to the installed trytond's series (modules follow it)."""
    try:
        series = ".".join(version("trytond").split(".")[:2])
    except PackageNotFoundError:
        return f"trytond_{name}"
    return f"trytond_{name}~={series}.0"


def install_hint(name: str) -> str:
    """The closest names (installed, or standard with their pip package), else what to do."""
    if name in STANDARD_MODULES:
        return f"pip install '{pip_requirement(name)}'"
    installed = installed_modules()
    close = difflib.get_close_matches(name, sorted(installed | STANDARD_MODULES), n=3, cutoff=0.8)
    close = [match for match in close if match != name]
    guesses = [
        f"{match} (installed)"
        if match in installed
        else f"{match} (pip install '{pip_requirement(match)}')"
        for match in close
    ]
    if guesses:
        return f"did you mean {' or '.join(guesses)}?"
    return "not a standard Tryton module: install the package that provides it"


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
