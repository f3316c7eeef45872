"""ops_session passes trytond's ModuleTestCase, and its `ir.session` contract tests pass both on
trytond's own sessions and on the Redis store (PostgreSQL: tests/sessions/test_stack.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SUITE = "tryton_ops.modules.ops_session.tests"


@pytest.fixture(scope="module")
def db_cache(tmp_path_factory) -> dict[str, str]:
    """trytond's DB_CACHE: the second run restores the database the first one built."""
    return {"DB_CACHE": str(tmp_path_factory.mktemp("ops_session_db_cache"))}


def _run_suite(tmp_path, env_extra: dict[str, str], *only: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRYTOND_", "DB_"))}
    env.update(env_extra)
    done = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", SUITE, *only],
        cwd=tmp_path,  # outside the source tree, as trytond's docs run module tests
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\nOK" in done.stderr
    ran = [line for line in done.stderr.splitlines() if line.startswith("Ran ")]
    assert ran, done.stderr[-3000:]
    return int(ran[0].split()[1])


def test_contract_on_stock_sessions(tmp_path, db_cache):
    assert _run_suite(tmp_path, db_cache, "-k", "test_contract_") == 6


def test_module_suite_on_redis_sessions(tmp_path, redis_server, db_cache):
    env = {
        **db_cache,
        "TRYTOND_OPS_SESSION__STORE": "redis",
        "TRYTOND_OPS_SESSION__REDIS_URI": redis_server.uri,
    }
    assert _run_suite(tmp_path, env) >= 30  # trytond's module checks + the 6 contract tests
    keys = [k.decode() for k in redis_server.client().scan_iter()]
    assert keys and all(k.startswith("tryton:s:{:memory:}:") for k in keys)
