"""A real multi-worker trytond stack (gunicorn, N workers) started the way `tryton-ops up` does."""

from __future__ import annotations

import psutil

from tryton_ops.client import Connection
from tryton_ops.config import LoadedConfig
from tryton_ops.deploy import local_stack
from tryton_ops.testing.databases import TestDatabase, derive
from tryton_ops.testing.processes import free_port


class TestStack:
    """A stack serving one test database (gunicorn; nginx, bus, cron, queue when asked)."""

    __test__ = False  # not a test class for pytest

    def __init__(self, database: TestDatabase, workers: int = 2, threads: int = 1, **sections):
        self.database = database
        port = free_port()
        server = {"listen": f"127.0.0.1:{port}", "workers": workers, "threads": threads}
        server.update(sections.pop("server", {}))
        # nginx only when asked (it is installed for the tests, so "auto" would use it),
        # and never on a default port
        front = {
            "enabled": "off",
            "listen": f"127.0.0.1:{free_port()}",
            "tls_listen": f"127.0.0.1:{free_port()}",
        }
        front.update(sections.pop("front", {}))
        bus = {"listen": f"127.0.0.1:{free_port()}", **sections.pop("bus", {})}
        run_dir = database.config.run_dir.parent / f"run-{port}"
        values = {
            "server": server,
            "front": front,
            "bus": bus,
            "paths": {"run": str(run_dir)},
            **sections,
        }
        self.config: LoadedConfig = derive(database.config, values)
        self.state: local_stack.StackState | None = None

    @property
    def url(self) -> str:
        return local_stack.public_url(self.config)

    def start(self) -> TestStack:
        self.state = local_stack.start(self.config, detach=True)
        return self

    def stop(self) -> str:
        return local_stack.stop(self.config)

    def master(self) -> psutil.Process:
        return psutil.Process(self.state.pid)

    def worker_pids(self) -> list[int]:
        return sorted(
            row["pid"] for row in local_stack.processes(self.config) if row["role"] == "app-worker"
        )

    def connect(self, login: bool = True) -> Connection:
        """A JSON-RPC connection to the database, logged in as admin unless told otherwise."""
        conn = Connection(self.url, self.database.name)
        if login:
            conn.login("admin", self.database.password)
        return conn

    def __enter__(self) -> TestStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
