"""One real stack per backend, shared by the client tests (they use distinct data)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tryton_ops.client import Client
from tryton_ops.testing.stack import TestStack

# currency brings the Numeric and Date fields the type round trip needs
MODULES = ("party", "currency")


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def stack(request, db_templates, tmp_path_factory) -> Iterator[TestStack]:
    database = db_templates.copy(request.param, MODULES, tmp_path_factory.mktemp("db"))
    started = TestStack(database, workers=2).start()
    yield started
    started.stop()
    db_templates.drop(database)


@pytest.fixture
def client(stack) -> Iterator[Client]:
    """A session logged in as admin."""
    with Client(stack.url, stack.database.name) as session:
        session.login("admin", stack.database.password)
        yield session
