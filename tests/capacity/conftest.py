"""A database of the capacity workload (standard sales modules) with a few records in it."""

from __future__ import annotations

import os
import subprocess
import sys
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
