"""ops_debug passes trytond's ModuleTestCase (its own tests included) on both backends."""

from __future__ import annotations

import os

import pytest

from tryton_ops.testing.module_suites import run_module_suite

MODULE = "tryton_ops.modules.ops_debug"
MIN_TESTS = 30  # trytond's checks + ours


def test_module_suite_sqlite(tmp_path):
    assert run_module_suite(MODULE, tmp_path) >= MIN_TESTS


@pytest.mark.postgresql
def test_module_suite_postgresql(tmp_path, postgres_server):
    import psycopg
    from psycopg import sql

    name = f"test_ops_debug_{os.getpid()}"
    try:
        env = {"TRYTOND_DATABASE_URI": postgres_server.uri, "DB_NAME": name}
        assert run_module_suite(MODULE, tmp_path, env) >= MIN_TESTS
    finally:
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
