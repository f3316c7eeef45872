"""ops_session passes trytond's ModuleTestCase, and its `ir.session` contract tests pass both on
trytond's own sessions and on the Redis store (PostgreSQL: tests/sessions/test_stack.py)."""

from __future__ import annotations

import pytest

from tryton_ops.testing.module_suites import run_module_suite

MODULE = "tryton_ops.modules.ops_session"


@pytest.fixture(scope="module")
def db_cache(tmp_path_factory) -> dict[str, str]:
    """trytond's DB_CACHE: the second run restores the database the first one built."""
    return {"DB_CACHE": str(tmp_path_factory.mktemp("ops_session_db_cache"))}


def test_contract_on_stock_sessions(tmp_path, db_cache):
    assert run_module_suite(MODULE, tmp_path, db_cache, "-k", "test_contract_") == 6


def test_module_suite_on_redis_sessions(tmp_path, redis_server, db_cache):
    env = {
        **db_cache,
        "TRYTOND_OPS_SESSIONS__STORE": "redis",
        "TRYTOND_OPS_SESSIONS__REDIS_URI": redis_server.uri,
    }
    # trytond's module checks + the 6 contract tests
    assert run_module_suite(MODULE, tmp_path, env) >= 30
    keys = [k.decode() for k in redis_server.client().scan_iter()]
    assert keys and all(k.startswith("tryton:s:{:memory:}:") for k in keys)
