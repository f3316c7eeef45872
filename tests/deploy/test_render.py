"""`tryton-ops deploy render`: golden files, idempotence, nginx -t, clear errors."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.test_up_down import TRYTON_OPS, cli
from tryton_ops.deploy.programs import nginx_binary

pytestmark = pytest.mark.one_series  # the same on every trytond series

GOLDEN = Path(__file__).parent / "golden"
CONFIG = """\
name = "erp"
[paths]
data = "{base}/data"
run = "{base}/run"
[database]
uri = "postgresql://tryton:s3cret@db.internal:5432/"
name = "erp"
modules = ["party"]
[server]
listen = "127.0.0.1:8000"
workers = 4
[front]
enabled = "on"
listen = "127.0.0.1:8080"
tls = true
tls_listen = "127.0.0.1:8443"
server_name = "erp.example.com"
allowed_networks = ["10.1.0.0/16", "127.0.0.1/32"]
[cron]
enabled = true
[queue]
workers = 2
"""


def cli_interpreter() -> str:
    """The Python the `tryton-ops` script runs on, the one rendered files name: its shebang, not
    this runner's sys.executable (`python -m pytest` and the `pytest` script differ)."""
    return Path(TRYTON_OPS).read_text().splitlines()[0].removeprefix("#!").strip()


def normalise(text: str, base: Path) -> str:
    from importlib.metadata import version

    replacements = {
        str(base): "{BASE}",
        cli_interpreter(): "{PYTHON}",
        sys.executable: "{PYTHON}",  # rendered in process (CliRunner): this runner's Python
        str(Path(sys.executable).parent): "{BIN}",
        nginx_binary(): "{NGINX}",
        sys.prefix: "{PREFIX}",
        f"tryton-ops=={version('tryton-ops')}": "tryton-ops=={VERSION}",
        f"tryton-ops[uwsgi]=={version('tryton-ops')}": "tryton-ops[uwsgi]=={VERSION}",
    }
    series = ".".join(version("trytond").split(".")[:2])
    replacements[f"~={series}.0"] = "~={SERIES}.0"
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def render(tmp_path: Path, text: str = CONFIG, *args: str):
    config = tmp_path / "tryton-ops.toml"
    config.write_text(text.format(base=tmp_path))
    out = tmp_path / "out"
    return config, out, cli(config, "deploy", "render", "--out", str(out), "--json", *args)


def test_matches_golden_files(tmp_path):
    _, out, result = render(tmp_path)
    assert result.returncode == 0, result.stderr
    written = {Path(row["path"]).relative_to(out).as_posix() for row in json.loads(result.stdout)}
    assert written == {
        "trytond.conf",
        "gunicorn.conf.py",
        "nginx.conf",
        "supervisord.conf",
        "logrotate.conf",
        "Containerfile",
        "compose.yaml",
        "tryton-ops.toml",
        "systemd/tryton-erp-app.service",
        "systemd/tryton-erp-stat.service",
        "systemd/tryton-erp-front.service",
        "systemd/tryton-erp-cron.service",
        "systemd/tryton-erp-queue0.service",
        "systemd/tryton-erp-queue1.service",
    }
    for relative in sorted(written):
        assert_golden(out, relative, tmp_path)


@pytest.mark.parametrize("python", ["python", "python3", "python3.11"])
def test_golden_files_whatever_starts_the_runner(python):
    """The golden test passes under `<venv>/bin/<python> -m pytest` as under the pytest script."""
    runner = Path(sys.executable).with_name(python)
    test = f"{__file__}::test_matches_golden_files"
    proc = subprocess.run(
        [str(runner), "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", test],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]


def assert_golden(out: Path, relative: str, base: Path, folder: Path = GOLDEN) -> None:
    actual = normalise((out / relative).read_text(), base)
    golden = folder / relative.replace("/", "__")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text(), f"{relative} differs from {golden}"


def test_uwsgi_app_server(tmp_path):
    text = CONFIG.replace("[server]\n", '[server]\napp_server = "uwsgi"\n')
    _, out, result = render(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert not (out / "gunicorn.conf.py").exists()  # nothing runs gunicorn without the bus
    for relative in ("uwsgi.ini", "systemd/tryton-erp-app.service", "Containerfile"):
        assert_golden(out, relative, tmp_path, GOLDEN / "uwsgi")
    _, out, result = render(tmp_path, text + "[bus]\nenabled = true\n")
    assert result.returncode == 0, result.stderr
    assert (out / "gunicorn.conf.py").exists()  # the bus runs on gunicorn's gevent worker
    assert "gunicorn" in (out / "systemd/tryton-erp-bus.service").read_text()


def test_secrets_files_are_private(tmp_path):
    _, out, result = render(tmp_path)
    assert result.returncode == 0
    for name in ("trytond.conf", "supervisord.conf", "tryton-ops.toml"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    assert "s3cret" not in (out / "nginx.conf").read_text()
    assert "s3cret" not in "".join(p.read_text() for p in (out / "systemd").iterdir())


def test_second_render_changes_nothing(tmp_path):
    config, out, first = render(tmp_path)
    assert all(row["changed"] for row in json.loads(first.stdout))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = cli(config, "deploy", "render", "--out", str(out), "--json")
    assert not any(row["changed"] for row in json.loads(again.stdout))
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_rejected_by_nginx_is_a_clear_error(tmp_path):
    broken = CONFIG + ""
    broken = broken.replace(
        'server_name = "erp.example.com"',
        'server_name = "erp.example.com"\ncertificate = "/nonexistent.crt"\n'
        'certificate_key = "/nonexistent.key"',
    )
    _, _, result = render(tmp_path, broken)
    assert result.returncode == 1
    assert "nginx -t rejected" in result.stderr
    assert "/nonexistent.crt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["erp.example.com; return 200", "a b"])
def test_server_name_cannot_inject_nginx_directives(tmp_path, name):
    _, _, result = render(tmp_path, CONFIG.replace("erp.example.com", name))
    assert result.returncode == 2
    assert "front.server_name: must be a host name" in result.stderr


def test_uwsgi_not_installed_is_a_clear_error(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tryton_ops.cli import main
    from tryton_ops.deploy import programs

    monkeypatch.setattr(programs, "bin_path", lambda name: str(tmp_path / "no-venv" / name))
    config = tmp_path / "tryton-ops.toml"
    config.write_text(
        CONFIG.format(base=tmp_path).replace("[server]\n", '[server]\napp_server = "uwsgi"\n')
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["-c", str(config), "deploy", "render", "--out", str(out)])
    assert result.exit_code == 1
    assert "error: server.app_server = 'uwsgi' but uwsgi is not installed" in result.output
    assert not out.exists()  # nothing written
    previous = signal.getsignal(signal.SIGTERM)  # `up` installs its own handler
    try:
        result = CliRunner().invoke(main, ["-c", str(config), "up", "--detach"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 1
    assert "error: server.app_server = 'uwsgi' but uwsgi is not installed" in result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()
