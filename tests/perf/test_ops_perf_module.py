"""ops_perf passes trytond's ModuleTestCase (its own tests included), on SQLite: the module
holds no table of its own, the stack test covers it on a served database."""

from __future__ import annotations

from tryton_ops.testing.module_suites import run_module_suite


def test_module_suite_sqlite(tmp_path):
    assert run_module_suite("tryton_ops.modules.ops_perf", tmp_path) >= 20  # trytond's + ours
