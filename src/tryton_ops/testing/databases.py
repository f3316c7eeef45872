"""trytond databases for tests: each module set is built once per run, then copied per test."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tryton_ops.config import LoadedConfig, Settings
from tryton_ops.lifecycle.init import init_database
from tryton_ops.lifecycle.password import AdminPassword
from tryton_ops.testing.servers import PostgresServer

ADMIN_PASSWORD = "admin-test-password"


def make_config(base: Path, values: dict[str, Any]) -> LoadedConfig:
    """A validated config whose data and run directories live under `base`."""
    values = _merge({"paths": {"data": str(base / "data"), "run": str(base / "run")}}, values)
    return LoadedConfig(settings=Settings.model_validate(values), path=None)


def derive(config: LoadedConfig, values: dict[str, Any]) -> LoadedConfig:
    """The same config with some sections changed (validated again)."""
    merged = _merge(config.settings.model_dump(mode="json"), values)
    return LoadedConfig(settings=Settings.model_validate(merged), path=config.path)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class TestDatabase:
    """A trytond database a test may write to; `config` points at it."""

    __test__ = False  # not a test class for pytest

    config: LoadedConfig
    name: str
    password: str = ADMIN_PASSWORD

    @property
    def backend(self) -> str:
        return self.config.settings.database.backend


class DatabaseTemplates:
    """Builds a template per (backend, modules) on first use and hands out copies."""

    def __init__(self, root: Path, postgres: Callable[[], PostgresServer]):
        self.root = root
        self.postgres = postgres
        self.password_file = root / "admin-password"
        root.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text(ADMIN_PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self.password = AdminPassword(ADMIN_PASSWORD, "file", self.password_file)
        self._built: dict[tuple[str, tuple[str, ...]], TestDatabase] = {}
        self._copies = 0

    def _config(self, base: Path, backend: str, modules: tuple[str, ...], name: str):
        uri = "sqlite://" if backend == "sqlite" else self.postgres().uri
        values = {
            "paths": {"templates": str(self.root / "templates")},  # shared by every test
            "database": {
                "uri": uri,
                "name": name,
                "modules": list(modules),
                "admin_password_file": str(self.password_file),
            },
        }
        return make_config(base, values)

    def template(self, backend: str, modules: tuple[str, ...]) -> TestDatabase:
        """The first database of a module set: built by trytond-admin, saved as a template."""
        key = (backend, tuple(sorted(modules)))
        if key not in self._built:
            digest = hashlib.sha1("/".join(key[1]).encode()).hexdigest()[:10]
            name = f"tmpl_{digest}"
            config = self._config(self.root / f"{backend}-{digest}", backend, key[1], name)
            init_database(config, name, self.password)
            self._built[key] = TestDatabase(config=config, name=name)
        return self._built[key]

    def copy(self, backend: str, modules: tuple[str, ...], base: Path) -> TestDatabase:
        """A fresh database of the module set, configured under `base`: a copy of its template
        made by `init_database`, the way `db init` and `up` make one."""
        self.template(backend, modules)
        self._copies += 1
        name = f"test_{self._copies}"
        config = self._config(base, backend, tuple(sorted(modules)), name)
        init_database(config, name, self.password)
        return TestDatabase(config=config, name=name)

    def drop(self, database: TestDatabase) -> None:
        from tryton_ops.lifecycle.database import drop_database

        drop_database(database.config, database.name)
