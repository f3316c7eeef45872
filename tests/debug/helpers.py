"""Shared by the debug tests: databases with ops_debug, runner batches, source line lookups."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from tryton_ops.debug.client import Request, run_local_many
from tryton_ops.testing.databases import TestDatabase, derive

MODULES = ("party", "ops_debug")


def debug_db(make_trytond_db, backend: str, eval_enabled: bool = False) -> TestDatabase:
    """A copy of the party + ops_debug template, `[debug] eval` as asked."""
    database = make_trytond_db(backend, MODULES)
    if not eval_enabled:
        return database
    config = derive(database.config, {"debug": {"eval": True}})
    return dataclasses.replace(database, config=config)


def batch(database: TestDatabase, *requests: tuple[str, dict[str, Any]]) -> list[dict]:
    """Serve the requests in one trytond process (one pool start for the lot)."""
    return run_local_many(database.config, [Request(a, p) for a, p in requests])


def ok(answer: dict) -> Any:
    assert answer["ok"], answer
    return answer["result"]


def line_of(file: str, pattern: str, after: str | None = None) -> int:
    """1-based line of the first match (after the first match of `after`): the truth the
    introspection is compared with."""
    regex = re.compile(pattern)
    start = line_of(file, after) if after else 0
    for number, text in enumerate(Path(file).read_text().splitlines(), 1):
        if number > start and regex.search(text):
            return number
    raise AssertionError(f"{pattern!r} not in {file}")
