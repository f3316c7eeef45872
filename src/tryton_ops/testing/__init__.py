"""Test harness: real PostgreSQL, Redis, nginx and multi-worker trytond stacks for pytest.

Enable the fixtures with `pytest_plugins = ["tryton_ops.testing.plugin"]`.
"""
