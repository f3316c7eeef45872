"""ops_debug passes trytond's ModuleTestCase (its own tests included) on both backends."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run_suite(tmp_path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRYTOND_", "DB_"))}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tryton_ops.modules.ops_debug.tests"],
        cwd=tmp_path,  # outside the source tree, as trytond's docs run module tests
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _assert_ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\nOK" in done.stderr
    ran = [line for line in done.stderr.splitlines() if line.startswith("Ran ")]
    assert ran and int(ran[0].split()[1]) >= 30, ran  # trytond's checks + ours


def test_module_suite_sqlite(tmp_path):
    _assert_ok(_run_suite(tmp_path, {}))


@pytest.mark.postgresql
def test_module_suite_postgresql(tmp_path, postgres_server):
    import psycopg
    from psycopg import sql

    name = f"test_ops_debug_{os.getpid()}"
    try:
        done = _run_suite(tmp_path, {"TRYTOND_DATABASE_URI": postgres_server.uri, "DB_NAME": name})
        _assert_ok(done)
    finally:
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
