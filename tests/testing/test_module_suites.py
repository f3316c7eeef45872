"""The suite runner reports a failing or empty suite instead of passing it."""

from __future__ import annotations

import pytest

from tryton_ops.testing.module_suites import SuiteFailed, clean_env, run_suite


def test_failing_suite_raises_with_unittest_output(tmp_path):
    (tmp_path / "test_broken.py").write_text(
        "import unittest\n\n"
        "class T(unittest.TestCase):\n"
        "    def test_ok(self):\n        pass\n\n"
        "    def test_wrong(self):\n        self.assertEqual(1, 2)\n"
    )
    with pytest.raises(SuiteFailed, match="AssertionError: 1 != 2"):
        run_suite(["test_broken"], tmp_path, clean_env())


def test_passing_suite_returns_the_count_and_env_is_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("TRYTOND_DATABASE__URI", "postgresql://elsewhere/")
    (tmp_path / "test_env.py").write_text(
        "import os, unittest\n\n"
        "class T(unittest.TestCase):\n"
        "    def test_env(self):\n"
        "        self.assertNotIn('TRYTOND_DATABASE__URI', os.environ)\n"
        "        self.assertEqual(os.environ['DB_NAME'], ':memory:')\n"
    )
    assert run_suite(["test_env"], tmp_path, clean_env({"DB_NAME": ":memory:"})) == 1


def test_empty_suite_is_a_failure(tmp_path):
    (tmp_path / "test_none.py").write_text("")
    with pytest.raises(SuiteFailed):
        run_suite(["test_none"], tmp_path, clean_env())
