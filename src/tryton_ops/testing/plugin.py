"""pytest fixtures of the harness: real servers, template databases, multi-worker stacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tryton_ops.testing.databases import DatabaseTemplates, TestDatabase
from tryton_ops.testing.servers import NginxServer, PostgresServer, RedisServer
from tryton_ops.testing.stack import TestStack

DEFAULT_MODULES = ("party",)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL for the session (tests that kill it use `postgres_factory`)."""
    server = PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], PostgresServer]]:
    """Private PostgreSQL servers a test owns outright (kill, pause, restart)."""
    servers: list[PostgresServer] = []

    def make() -> PostgresServer:
        servers.append(PostgresServer().start())
        return servers[-1]

    yield make
    for server in servers:
        server.destroy()


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    servers: list[RedisServer] = []

    def make(**kwargs) -> RedisServer:
        servers.append(RedisServer(**kwargs).start())
        return servers[-1]

    yield make
    for server in servers:
        server.destroy()


@pytest.fixture
def redis_server(redis_factory) -> RedisServer:
    """A fresh private Redis for this test."""
    return redis_factory()


@pytest.fixture
def nginx_factory() -> Iterator[Callable[[str], NginxServer]]:
    """nginx with the given `http {}` body (`{port}` is replaced by its free port)."""
    servers: list[NginxServer] = []

    def make(http_body: str) -> NginxServer:
        servers.append(NginxServer(http_body).start())
        return servers[-1]

    yield make
    for server in servers:
        server.destroy()


@pytest.fixture(scope="session")
def db_templates(request, tmp_path_factory) -> DatabaseTemplates:
    return DatabaseTemplates(
        tmp_path_factory.mktemp("templates"),
        postgres=lambda: request.getfixturevalue("postgres_server"),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def make_trytond_db(db_templates, tmp_path) -> Iterator[Callable[..., TestDatabase]]:
    """Copies of template databases: `make_trytond_db("postgresql", ("party",))`."""
    made: list[TestDatabase] = []

    def make(backend: str = "sqlite", modules: tuple[str, ...] = DEFAULT_MODULES):
        base = tmp_path / f"db{len(made)}"
        made.append(db_templates.copy(backend, tuple(modules), base))
        return made[-1]

    yield make
    for database in made:
        db_templates.drop(database)


@pytest.fixture
def trytond_db(make_trytond_db, db_backend) -> TestDatabase:
    """A writable `party` database on each backend."""
    return make_trytond_db(db_backend)


@pytest.fixture
def tryton_stack() -> Iterator[Callable[..., TestStack]]:
    """Start gunicorn stacks: `tryton_stack(trytond_db, workers=2)`; stopped after the test."""
    stacks: list[TestStack] = []

    def start(database: TestDatabase, workers: int = 2, threads: int = 1, **sections):
        stacks.append(TestStack(database, workers=workers, threads=threads, **sections))
        return stacks[-1].start()

    yield start
    for stack in stacks:
        stack.stop()
