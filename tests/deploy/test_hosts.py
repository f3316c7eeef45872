"""`tryton-ops deploy render --host NAME`: what each host of a multi-host deployment needs."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner

from tests.deploy.test_render import GOLDEN, assert_golden
from tests.deploy.test_up_down import cli
from tryton_ops.cli import main
from tryton_ops.config import ConfigError, load_config
from tryton_ops.config.schema import Host

pytestmark = pytest.mark.one_series  # the same on every trytond series


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


CONFIG = """\
name = "erp"
[paths]
data = "{base}/data"
run = "{base}/run"
[database]
uri = "postgresql://tryton:s3cret@10.0.0.20:5432/"
name = "erp"
[redis]
uri = "redis://:r3dis@10.0.0.20:6379/0"
[server]
listen = "127.0.0.1:8000"
workers = 2
[front]
listen = "127.0.0.1:8080"
tls = true
tls_listen = "127.0.0.1:8443"
server_name = "erp.example.com"
allowed_networks = ["10.0.0.0/24"]
[cron]
enabled = true
[queue]
workers = 2
[bus]
enabled = true
listen = "127.0.0.1:8001"

[hosts.front]
address = "10.0.0.10"
roles = ["front"]
[hosts.app1]
address = "10.0.0.11"
workers = 4
roles = ["app", "cron", "queue"]
[hosts.app2]
address = "10.0.0.12"
threads = 4
roles = ["app", "bus"]
[hosts.data]
address = "10.0.0.20"
roles = ["db", "redis"]
"""

EXPECTED = {
    "front": {
        "nginx.conf",
        "supervisord.conf",
        "logrotate.conf",
        "systemd/tryton-erp-front.service",
    },
    "app1": {
        "trytond.conf",
        "gunicorn.conf.py",
        "supervisord.conf",
        "logrotate.conf",
        "systemd/tryton-erp-app.service",
        "systemd/tryton-erp-stat.service",
        "systemd/tryton-erp-cron.service",
        "systemd/tryton-erp-queue0.service",
        "systemd/tryton-erp-queue1.service",
    },
    "app2": {
        "trytond.conf",
        "gunicorn.conf.py",
        "supervisord.conf",
        "logrotate.conf",
        "systemd/tryton-erp-app.service",
        "systemd/tryton-erp-stat.service",
        "systemd/tryton-erp-bus.service",
    },
    "data": {"pg_hba.conf", "redis.conf"},
}
# the files compared byte for byte (the units of cron and queue are covered by test_render)
GOLDEN_FILES = {
    "front": ["nginx.conf", "logrotate.conf"],
    "app1": ["trytond.conf", "gunicorn.conf.py", "systemd/tryton-erp-app.service"],
    "app2": ["gunicorn.conf.py", "systemd/tryton-erp-bus.service"],
    "data": ["pg_hba.conf", "redis.conf"],
}


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    config = tmp_path / "tryton-ops.toml"
    config.write_text(text.format(base=tmp_path))
    return config


def render_host(config: Path, host: str, out: Path) -> Result:
    """In process (the same click command as `tryton-ops`, without a Python start per call)."""
    args = ["-c", str(config), "deploy", "render", "--host", host, "--out", str(out), "--json"]
    result = CliRunner().invoke(main, args)
    return Result(result.exit_code, result.stdout, result.stderr)


def test_each_host_gets_what_it_runs(tmp_path):
    config = write(tmp_path)
    for host, expected in EXPECTED.items():
        out = tmp_path / "out" / host
        result = render_host(config, host, out)  # the front's nginx.conf passes nginx -t
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert {Path(row["path"]).relative_to(out).as_posix() for row in rows} == expected
        for relative in GOLDEN_FILES[host]:
            assert_golden(out, relative, tmp_path, GOLDEN / "hosts" / host)
        again = render_host(config, host, out)
        assert not any(row["changed"] for row in json.loads(again.stdout)), host
    front = (tmp_path / "out" / "front" / "nginx.conf").read_text()
    assert "least_conn;" in front and "keepalive 32;" in front
    assert "server 10.0.0.11:8000 max_fails=1" in front
    assert "server 10.0.0.12:8000 max_fails=1" in front
    assert "server 10.0.0.12:8001;" in front  # the bus host
    assert "s3cret" not in front and "r3dis" not in front
    data = tmp_path / "out" / "data"
    assert stat.S_IMODE((data / "redis.conf").stat().st_mode) == 0o600  # holds requirepass
    assert stat.S_IMODE((tmp_path / "out/app1/trytond.conf").stat().st_mode) == 0o600


def test_uwsgi_app_host(tmp_path):
    config = write(
        tmp_path, CONFIG.replace("workers = 2\n[front]", 'app_server = "uwsgi"\n[front]')
    )
    out = tmp_path / "out"
    result = render_host(config, "app1", out)
    assert result.returncode == 0, result.stderr
    ini = (out / "uwsgi.ini").read_text()
    assert "http-socket = 10.0.0.11:8000\n" in ini and "processes = 4\n" in ini
    assert not (out / "gunicorn.conf.py").exists()
    assert render_host(config, "app2", tmp_path / "app2").returncode == 0
    assert (tmp_path / "app2" / "gunicorn.conf.py").exists()  # for the bus


def test_unknown_host_lists_the_known_ones(tmp_path):
    result = render_host(write(tmp_path), "app3", tmp_path / "out")
    assert result.returncode == 1
    assert "error: unknown host 'app3'; known hosts: app1, app2, data, front" in result.stderr
    assert not (tmp_path / "out").exists()


def test_host_selection_errors(tmp_path):
    multi = write(tmp_path)
    result = cli(multi, "deploy", "render", "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "render one with --host NAME (known hosts: app1, app2, data, front)" in result.stderr
    single = write(tmp_path, CONFIG.split("\n[hosts.front]")[0])
    result = render_host(single, "app1", tmp_path / "out")
    assert result.returncode == 1
    assert "describes no hosts" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('roles = ["db", "redis"]', 'roles = ["db", "front"]'), "exactly one host needs role"),
        (('roles = ["app", "bus"]', 'roles = ["app"]'), "bus.enabled needs exactly one host"),
        (("[cron]\nenabled = true", "[cron]\nenabled = false"), "has role 'cron' but"),
        (("workers = 2\n[bus]", "workers = 0\n[bus]"), "has role 'queue' but queue.workers"),
        (('address = "10.0.0.12"', 'address = "10.0.0.12:8000"'), "without a port"),
        (('roles = ["front"]', 'roles = ["proxy"]'), "hosts.front.roles.0"),
    ],
)
def test_inconsistent_hosts_are_config_errors(tmp_path, change, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, CONFIG.replace(*change)))
    assert message in str(error.value) and ": hosts" in str(error.value)


def test_several_hosts_need_postgresql(tmp_path):
    text = CONFIG.replace("postgresql://tryton:s3cret@10.0.0.20:5432/", "sqlite://")
    text = text.replace("[bus]\nenabled = true", "[bus]\nenabled = false")
    text = text.replace('roles = ["app", "bus"]', 'roles = ["app"]')
    result = cli(write(tmp_path, text), "deploy", "render", "--host", "app1")
    assert result.returncode == 2  # the real command: a config error, no traceback
    assert "hosts: several hosts share one database" in result.stderr
    assert "database.uri must be postgresql://" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_a_multi_host_config(tmp_path):
    result = cli(write(tmp_path), "up", "--detach")
    assert result.returncode == 1
    assert "describes several hosts" in result.stderr and "--host NAME" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing was started or written


def test_config_show_prints_hosts_as_tables(tmp_path):
    config = write(tmp_path)
    result = CliRunner().invoke(main, ["-c", str(config), "config", "show"])
    assert result.exit_code == 0, result.output
    shown = tomllib.loads(result.stdout)["hosts"]  # valid TOML: one [hosts.NAME] table each
    assert shown["app1"] == {
        "address": "10.0.0.11",
        "roles": ["app", "cron", "queue"],
        "workers": 4,
    }
    hosts = load_config(config).settings.hosts
    assert {name: Host.model_validate(values) for name, values in shown.items()} == hosts


def test_doctor_knows_app_hosts_are_behind_the_front(tmp_path):
    """num_proxies = 1 on app hosts is right: nginx runs on the front host, not here."""
    from tryton_ops.config import render_trytond_conf
    from tryton_ops.deploy.hosts import host_config
    from tryton_ops.views.doctor import Context, run

    # front.enabled only says whether this machine runs nginx; with [hosts] the front host does
    config = load_config(write(tmp_path, CONFIG.replace("[front]\n", '[front]\nenabled = "off"\n')))
    conf = tmp_path / "trytond.conf"
    conf.write_text(render_trytond_conf(host_config(config, "app1")))
    assert "num_proxies = 1" in conf.read_text()
    found = {finding.code for finding in run(Context(config, trytond_conf=conf, environ={}))}
    assert not {"server.num-proxies", "server.no-front"} & found
