"""Shared by the admin tests: config files for the CLI, table checksums, module fixtures."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tryton_ops.access.database import connect
from tryton_ops.cli import main
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle.backup import filestore_dir


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_toml(config: LoadedConfig, path: Path) -> Path:
    """The config as a tryton-ops.toml the CLI can read (None values left out)."""
    data = config.settings.model_dump(mode="json")
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(config: LoadedConfig, *args: str, input: str | None = None) -> Result:
    path = write_toml(config, config.data_dir.parent / "tryton-ops.toml")
    return CliRunner().invoke(main, ["-c", str(path), *args], input=input)


def table_checksums(config: LoadedConfig, name: str) -> dict[str, str]:
    """sha256 of the sorted rows of every table (our checksum table and sessions left out)."""
    out = {}
    with connect(config, name) as session:
        if session.sqlite:
            tables = [
                r[0]
                for r in session.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
        else:
            tables = [
                r[0]
                for r in session.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ]
        for table in sorted(tables):
            rows = session.execute(f'SELECT * FROM "{table}"')
            digest = hashlib.sha256()
            for row in sorted(repr(tuple(r)) for r in rows):
                digest.update(row.encode())
            out[table] = digest.hexdigest()
    return out


def add_attachments(config: LoadedConfig, name: str, count: int = 3) -> dict[str, bytes]:
    """Files laid out as trytond's filestore does (<path>/<db>/ab/cd/<id>)."""
    store = filestore_dir(config, name)
    files = {}
    for i in range(count):
        data = f"attachment {i} of {name}".encode() * (i + 1)
        digest = hashlib.md5(data).hexdigest()
        path = store / digest[:2] / digest[2:4] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[str(path.relative_to(store))] = data
    return files


def read_filestore(config: LoadedConfig, name: str) -> dict[str, bytes]:
    store = filestore_dir(config, name)
    if not store.is_dir():
        return {}
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}


def use_modules(monkeypatch, root: Path) -> None:
    """Make the modules under `root` importable here and in every trytond subprocess
    (trytond-admin, the smoke check, the stack's workers), keeping the runner's own path."""
    monkeypatch.syspath_prepend(str(root))
    inherited = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(root), inherited])))


def write_module(root: Path, name: str, depends: list[str], version: str = "0.1") -> Path:
    """A tiny trytond module registered under the trytond.modules entry point of `root`."""
    package = root / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(f"# {name}\n")
    (package / "tryton.cfg").write_text(
        "[tryton]\nversion=" + version + "\ndepends:\n" + "".join(f"    {d}\n" for d in depends)
    )
    dist = root / "ops_lifecycle_test_modules-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ops-lifecycle-test-modules\nVersion: 0.1\n"
    )
    entries = dist / "entry_points.txt"
    text = entries.read_text() if entries.exists() else "[trytond.modules]\n"
    entries.write_text(text + f"{name} = {name}\n")
    return package
