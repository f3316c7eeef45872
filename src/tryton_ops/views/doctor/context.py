"""What the checks look at, gathered once and lazily."""

from __future__ import annotations

import configparser
import contextlib
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import psutil

from tryton_ops.config import LoadedConfig
from tryton_ops.config.section import PartSection

S = TypeVar("S", bound=PartSection)


class Context:
    def __init__(
        self,
        config: LoadedConfig,
        trytond_conf: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.config = config
        self.settings = config.settings
        self._trytond_conf = trytond_conf
        self.environ = dict(os.environ if environ is None else environ)

    @cached_property
    def stack(self):
        from tryton_ops.deploy import local_stack

        return local_stack.running(self.config)

    @cached_property
    def app_environs(self) -> list[dict[str, str]]:
        """Environment of every app process (gunicorn master and workers) of the local stack."""
        if self.stack is None:
            return []
        from tryton_ops.deploy import local_stack

        found = []
        for row in local_stack.processes(self.config):
            if row["role"] in ("app", "app-worker"):
                with contextlib.suppress(psutil.Error):
                    found.append(psutil.Process(row["pid"]).environ())
        return found

    @cached_property
    def conf_source(self) -> str:
        return str(self._conf_path() or "rendered from tryton-ops.toml")

    def _conf_path(self) -> Path | None:
        if self._trytond_conf is not None:
            return self._trytond_conf
        for env in self.app_environs:
            if env.get("TRYTOND_CONFIG"):
                return Path(env["TRYTOND_CONFIG"])
        return None

    @cached_property
    def trytond_conf(self) -> configparser.ConfigParser:
        """The trytond.conf the processes use (or would use)."""
        parser = configparser.ConfigParser(interpolation=None)
        path = self._conf_path()
        if path is not None:
            parser.read(path)
        else:
            from tryton_ops.config.trytond_conf import render_trytond_conf

            parser.read_string(render_trytond_conf(self.config))
        return parser

    def conf(self, section: str, option: str, default: str | None = None) -> str | None:
        return self.trytond_conf.get(section, option, fallback=default)

    def conf_bool(self, section: str, option: str) -> bool:
        value = (self.conf(section, option) or "").strip().lower()
        return value in ("1", "true", "yes", "on")

    def part(self, section: type[S]) -> S:
        """A part's options as the running processes read them from their trytond.conf."""
        return section.from_items(lambda option: self.conf(section.TRYTOND_SECTION, option))

    @property
    def backend(self) -> str:
        """From the settings: the rendered URI is `postgresqlops://` on 8.0 with the analyzer."""
        return self.settings.database.backend

    @property
    def workers(self) -> int:
        return self.settings.server.workers

    @cached_property
    def front(self) -> bool:
        from tryton_ops.deploy.programs import behind_front

        return behind_front(self.config)

    @property
    def database(self) -> str:
        return self.stack.database if self.stack is not None else self.settings.database.name
