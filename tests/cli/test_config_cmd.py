"""`tryton-ops config` and the CLI conventions (--version, --help, exit codes)."""

from __future__ import annotations

import json
import tomllib

import pytest
from click.testing import CliRunner

from tryton_ops import __version__
from tryton_ops.cli import main

pytestmark = pytest.mark.one_series  # the same on every trytond series


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_on_every_command():
    def walk(group, path):
        for name, command in group.commands.items():
            result = run(*path, name, "--help")
            assert result.exit_code == 0, (path, name, result.output)
            assert "Usage:" in result.output
            if hasattr(command, "commands"):
                walk(command, [*path, name])

    walk(main, [])


def test_config_init_writes_sample_and_refuses_overwrite(tmp_path):
    target = tmp_path / "tryton-ops.toml"
    assert run("config", "init", str(target)).exit_code == 0
    assert tomllib.loads(target.read_text())["database"]["uri"] == "sqlite://"
    again = run("config", "init", str(target))
    assert again.exit_code == 1
    assert "exists; use --force" in again.output
    assert run("config", "init", "--force", str(target)).exit_code == 0


def test_config_show_masks_secrets_and_reports_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("TRYTON_OPS_WEB__CLIENT")  # tests/conftest.py's: only this test's own
    target = tmp_path / "tryton-ops.toml"
    target.write_text('[database]\nuri = "postgresql://tryton:hunter2@db:5432/"\n')
    env = {"TRYTON_OPS_SERVER__WORKERS": "3", "TRYTON_OPS_REDIS__URI": "redis://:pw9@r:6379/0"}
    result = run("-c", str(target), "config", "show", "--json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["source"] == str(target)
    assert data["settings"]["server"]["workers"] == 3
    assert data["settings"]["database"]["uri"] == "postgresql://tryton:***@db:5432/"
    assert "hunter2" not in result.output and "pw9" not in result.output
    assert sorted(data["env"]) == sorted(env)
    text = run("-c", str(target), "config", "show", env=env)
    assert "hunter2" not in text.output
    assert "# overridden by TRYTON_OPS_SERVER__WORKERS" in text.output
    assert "workers = 3" in text.output


def test_config_trytond_prints_rendered_conf_masked(tmp_path):
    target = tmp_path / "tryton-ops.toml"
    target.write_text('[database]\nuri = "postgresql://tryton:hunter2@db:5432/"\n')
    result = run("-c", str(target), "config", "trytond")
    assert result.exit_code == 0
    assert "[database]" in result.output
    assert "uri = postgresql://tryton:***@db:5432/" in result.output


def test_invalid_config_exits_2_without_traceback(tmp_path):
    target = tmp_path / "tryton-ops.toml"
    target.write_text("[server]\nworkers = -1\n")
    result = CliRunner().invoke(main, ["-c", str(target), "config", "show"])
    assert result.exit_code == 2
    assert "server.workers" in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["-c", str(tmp_path / "x.toml"), "status"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_rules_across_sections_are_error_lines_at_load(tmp_path):
    """Found when the file is loaded, so every command says it, not only `up` (exit 2)."""
    target = tmp_path / "tryton-ops.toml"
    cases = {
        '[perf]\nstore = "redis"\n': "perf.store is 'redis' but no Redis is configured",
        '[cache]\nbackend = "redis"\n': "cache.backend is 'redis' but no Redis is configured",
        '[redis]\nuri = "redis://h:6379/0"\n[sessions]\nstore = "redis"\n': (
            "'ops_session' is not in database.modules"
        ),
    }
    for text, message in cases.items():
        target.write_text(text)
        for command in (["config", "show"], ["status"], ["config", "trytond"]):
            result = CliRunner().invoke(main, ["-c", str(target), *command])
            assert result.exit_code == 2, (text, command, result.output)
            assert result.output.startswith("error: invalid configuration:")
            assert message in result.output
            assert "Traceback" not in result.output


def test_config_file_that_is_not_utf8_is_an_error_line(tmp_path):
    target = tmp_path / "tryton-ops.toml"
    target.write_bytes(b'name = "caf\xe9"\n')
    result = CliRunner().invoke(main, ["-c", str(target), "config", "show"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "not UTF-8" in result.output
