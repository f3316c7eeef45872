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
