"""Checksums of module files, and the ones recorded in a database at its last init or update.

`db update` compares the two to update only the modules whose files changed; the template cache
keys databases by them so that a changed module never comes out of a stale template.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from tryton_ops.access.database import Session
from tryton_ops.lifecycle.modules import module_dir

TABLE = "ops_module_checksum"
SKIPPED_DIRS = {"__pycache__", "tests", ".git"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}


def module_files(folder: Path) -> list[Path]:
    """The files that make a module what it is (tests and bytecode left out)."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part in SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if path.is_file() and path.suffix not in SKIPPED_SUFFIXES:
            found.append(path)
    return sorted(found)


def module_checksum(name: str) -> str:
    """sha256 over the relative path and content of every file of the module."""
    folder = module_dir(name)
    if folder is None:
        return "missing"
    digest = hashlib.sha256()
    for path in module_files(folder):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def current_checksums(names: list[str]) -> dict[str, str]:
    return {name: module_checksum(name) for name in names}


def _ensure_table(session: Session) -> None:
    if not session.table_exists(TABLE):
        session.execute(
            f"CREATE TABLE {TABLE} (module VARCHAR(100) PRIMARY KEY, "
            "checksum VARCHAR(64) NOT NULL, updated DOUBLE PRECISION NOT NULL)"
        )


def recorded_checksums(session: Session) -> dict[str, str]:
    """What the last init/update recorded; empty for a database tryton-ops never touched."""
    if not session.table_exists(TABLE):
        return {}
    return dict(session.execute(f"SELECT module, checksum FROM {TABLE}"))


def record_checksums(session: Session, checksums: dict[str, str]) -> None:
    _ensure_table(session)
    now = time.time()
    for module, checksum in checksums.items():
        session.execute(f"DELETE FROM {TABLE} WHERE module = %s", (module,))
        session.execute(
            f"INSERT INTO {TABLE} (module, checksum, updated) VALUES (%s, %s, %s)",
            (module, checksum, now),
        )


def changed_modules(recorded: dict[str, str], current: dict[str, str]) -> dict[str, str]:
    """module -> why it needs an update, for the modules whose files differ."""
    reasons = {}
    for name, checksum in current.items():
        if name not in recorded:
            reasons[name] = "no checksum recorded"
        elif recorded[name] != checksum:
            reasons[name] = "files changed"
    return reasons
