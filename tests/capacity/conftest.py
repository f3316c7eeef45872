"""A database of the capacity workload (standard sales modules) with a few records in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tryton_ops.capacity.modules import MODULES
from tryton_ops.config.trytond_conf import trytond_env

SRC = Path(__file__).resolve().parents[2] / "src"
SEED = Path(__file__).with_name("seed.py")


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """`tryton-ops ...` in its own process: Locust patches the process it runs in (gevent)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}:{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "tryton_ops", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def sales_db(make_trytond_db):
    """PostgreSQL database with the workload's modules, a company, customers, products, sales."""
    database = make_trytond_db("postgresql", MODULES)
    env = trytond_env(database.config, PYTHONPATH=str(SRC))
    done = subprocess.run(
        [sys.executable, str(SEED), database.name],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return database


def target_args(stack, database) -> list[str]:
    """The options pointing `loadtest run/check` at a test stack."""
    return [
        "--url",
        stack.url,
        "--database",
        database.name,
        "--password-file",
        str(database.config.settings.database.admin_password_file),
    ]


def _perform_tasks(stack) -> None:
    """A user's three tasks through our JSON-RPC client, with idle pauses between them."""
    conn = stack.connect()
    conn.call("model.party.party.create", [{"name": f"Customer {i}"} for i in range(3)], {})
    time.sleep(1.2)  # the records above are the data, not a task: skipped as the first step
    rows = conn.call("model.party.party.search_read", [], 0, 10, None, ["name"], {})
    time.sleep(1.2)
    conn.call("model.party.party.read", [rows[0]["id"]], ["name", "addresses"], {})
    time.sleep(1.2)
    (created,) = conn.call("model.party.party.create", [{"name": "Load party"}], {})
    conn.call("model.party.party.write", [created], {"name": "Load party 2"}, {})


@pytest.fixture
def party_db(make_trytond_db):
    """PostgreSQL: concurrent users creating parties on SQLite collide on trytond's party code
    sequence ("The code on party must be unique"), a limit of SQLite, not of the load test."""
    return make_trytond_db("postgresql")


@pytest.fixture
def party_scenario(party_db, tryton_stack, tmp_path, monkeypatch):
    """A scenario recorded on this very stack, so that it fits any trytond series."""
    recording = tmp_path / "calls.jsonl"
    monkeypatch.setenv("TRYTON_RECORD", str(recording))
    stack = tryton_stack(party_db, workers=2)
    _perform_tasks(stack)
    scenario = tmp_path / "party_tasks.json"
    done = cli(
        "loadtest", "record", str(recording), "--name", "party_tasks", "--client",
        "tryton-ops client", "--gap", "0.8", "--skip-steps", "1", "--steps", "list,open,create",
        "-o", str(scenario),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return stack, scenario
