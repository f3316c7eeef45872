"""The trytond.conf rendered for trytond processes."""

from __future__ import annotations

import configparser
import stat

from tryton_ops.config import load_config, render_trytond_conf, write_trytond_conf


def test_render_core_sections(tmp_path):
    path = tmp_path / "tryton-ops.toml"
    path.write_text(
        '[paths]\ndata = "d"\nrun = "r"\n'
        '[database]\nuri = "postgresql://u:pw@localhost:5432/"\nlanguage = "fr"\n'
        '[server]\nlisten = "0.0.0.0:9000"\ntimeout = 90\n'
    )
    config = load_config(path, environ={})
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_trytond_conf(config))
    assert parser["database"]["uri"] == "postgresql://u:pw@localhost:5432/"
    assert parser["database"]["path"] == str(tmp_path / "d" / "db")
    assert parser["database"]["language"] == "fr"
    assert parser["web"]["listen"] == "0.0.0.0:9000"
    assert parser["request"]["timeout"] == "90"
    # never a [wsgi <name>] section (it crashes trytond); the console's middleware only
    assert [s for s in parser.sections() if s.startswith("wsgi ")] == ["wsgi middleware"]
    assert dict(parser["wsgi middleware"]) == {
        "tryton_ops_console": "tryton_ops.console.middleware.ConsoleMiddleware"
    }
    assert parser["ops_console"]["database"] == config.settings.database.name
    path.write_text(path.read_text() + "[console]\nenabled = false\n")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_trytond_conf(load_config(path, environ={})))
    assert not any(s.startswith("wsgi ") or s == "ops_console" for s in parser.sections())


def test_written_into_run_dir_private(tmp_path):
    path = tmp_path / "tryton-ops.toml"
    path.write_text('[paths]\nrun = "run"\n')
    written = write_trytond_conf(load_config(path, environ={}))
    assert written == tmp_path / "run" / "trytond.conf"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert "Rendered by tryton-ops" in written.read_text()


def test_trytond_reads_the_rendered_file(tmp_path):
    """trytond's own config parser accepts what we render (checked in a clean interpreter)."""
    import subprocess
    import sys

    path = tmp_path / "tryton-ops.toml"
    path.write_text('[paths]\nrun = "run"\n[server]\ntimeout = 42\n')
    written = write_trytond_conf(load_config(path, environ={}))
    code = (
        "from trytond.config import config;"
        "print(config.get('database','uri'), config.getint('request','timeout'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"TRYTOND_CONFIG": str(written), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["sqlite://", "42"]
