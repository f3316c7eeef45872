"""One stack for the console tests (package scope: both files share it, to stay near a
minute and a half): SQLite, a gunicorn worker behind nginx, Redis for the cache, the
sessions and the analyzer's store, full capture with profiles, and a tryton-ops.toml on disk
(the console asks the CLI for status, doctor and the cache statistics)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.perf.helpers import write_toml
from tryton_ops.client import Connection
from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.local_stack import server_url
from tryton_ops.testing.servers import RedisServer
from tryton_ops.testing.stack import TestStack

ALICE_PASSWORD = "Alice-console-Pw-5531"


@dataclass
class ConsoleStack:
    stack: TestStack
    alice_id: int

    @property
    def url(self) -> str:
        """Through nginx, as people reach it."""
        return self.stack.url

    @property
    def worker_url(self) -> str:
        """A worker directly (it trusts one proxy: X-Forwarded-For names the client)."""
        return server_url(self.stack.config)

    def alice(self) -> Connection:
        conn = Connection(self.url, self.stack.database.name)
        conn.login("alice", ALICE_PASSWORD)
        return conn


@pytest.fixture(scope="package")
def console(db_templates, tmp_path_factory) -> Iterator[ConsoleStack]:
    base = tmp_path_factory.mktemp("console")
    database = db_templates.copy("sqlite", ("party", "ops_session"), base / "db")
    redis = RedisServer().start()
    stack = TestStack(
        database,
        workers=1,  # behind nginx all the same; a second worker would only cost start-up time
        front={"enabled": "on"},
        redis={"uri": redis.uri},
        cache={"backend": "redis"},
        sessions={"store": "redis"},
        perf={"enabled": True, "flush_interval_ms": 100, "profile": True},
        console={"refresh_s": 1},
    )
    toml = write_toml(stack.config, base / "tryton-ops.toml")
    stack.config = LoadedConfig(settings=stack.config.settings, path=toml)
    stack.start()
    try:
        admin = stack.connect()
        [alice_id] = admin.call(
            "model.res.user.create",
            [{"name": "Alice", "login": "alice", "password": ALICE_PASSWORD}],
            {},
        )
        yield ConsoleStack(stack, alice_id)
    finally:
        stack.stop()
        redis.destroy()
        db_templates.drop(database)
