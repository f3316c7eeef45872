"""`deploy install` on a host that systemd runs: a container booted with systemd as PID 1.

The container's root is an overlay of this machine's (`podman run --rootfs /:O`): the same
Python, nginx and systemd, every write going to the overlay, which goes with the container (the
machine's /etc/passwd and /root stay as they are). It boots `basic.target` only, so none of the
machine's own services start in it, with no network but its own loopback. podman runs with
runc, cgroupfs and no default ulimits (tests/deploy/test_container.py), /tmp, /run and /var/tmp
fresh tmpfs.

As root in it, like an operator on a new host: the install refuses a Python the service user
cannot run, enables everything but does not start while the database is missing (and says how to
make it), then starts the units under their sandbox and checks that gunicorn and nginx answer;
the daily backup job runs under systemd; a second run changes nothing; a config change updates
the files and restarts the services.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tryton_ops
from tests.deploy.test_container import CONTAINERS_CONF, run
from tests.deploy.test_render import cli_interpreter
from tryton_ops.deploy.install import closed_directory

pytestmark = [pytest.mark.one_series, pytest.mark.timeout(300)]

PYTHON = cli_interpreter()
TRYTON_OPS = str(Path(PYTHON).with_name("tryton-ops"))
SOURCE = Path(tryton_ops.__file__).parents[1]  # the code under test
CONFIG = """\
name = "erp"
[paths]
data = "/srv/erp/data"
run = "/run/tryton-erp"
[database]
name = "erp"
[server]
listen = "127.0.0.1:8000"
workers = 2
[front]
enabled = "on"
listen = "127.0.0.1:8080"
[backup]
schedule = true
"""

Shell = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def systemd_host(tmp_path) -> Iterator[Shell]:
    """`sh(script)` runs a shell script as root in the booted container."""
    conf = tmp_path / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    name = f"tryton-ops-install-{uuid.uuid4().hex[:8]}"
    fresh = [
        arg
        for path in ("/tmp", "/run", "/var/tmp")
        for arg in ("--tmpfs", f"{path}:rw,notmpcopyup")
    ]
    run(
        "podman", "run", "-d", "--name", name, "--network", "none", "--systemd=always", *fresh,
        "--rootfs", "/:O", "/sbin/init", "--unit=basic.target",
        env=env, timeout=120,
    )  # fmt: skip

    def sh(script: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["podman", "exec", "-w", "/", name, "sh", "-c", script],
            capture_output=True, text=True, env=env, timeout=240, check=False,
        )  # fmt: skip
        if check and proc.returncode:
            raise AssertionError(
                f"{script!r} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    try:
        deadline = time.monotonic() + 60
        while sh("systemctl is-system-running", check=False).stdout.strip() not in (
            "running",
            "degraded",
        ):
            assert time.monotonic() < deadline, "systemd did not boot in the container"
            time.sleep(0.5)
        # the tryton-ops of this checkout, whatever the venv's install points at
        site = sh(f"{PYTHON} -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])'")
        sh(f"echo {SOURCE} > {site.stdout.strip()}/0000-tryton-ops-under-test.pth")
        (tmp_path / "tryton-ops.toml").write_text(CONFIG)
        sh("mkdir -p /srv/erp")
        run("podman", "cp", str(tmp_path / "tryton-ops.toml"), f"{name}:/srv/erp/", env=env)
        yield sh
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "5", name], capture_output=True, env=env)


def test_install_starts_and_checks_the_services(systemd_host):
    sh = systemd_host
    install = f"{TRYTON_OPS} -c /srv/erp/tryton-ops.toml deploy install"
    if closed_directory(Path(PYTHON).resolve()) is not None:
        refused = sh(install, check=False)  # pyenv under /root here: 0700
        assert refused.returncode == 1 and "closed to other users" in refused.stderr
        assert sh("id tryton", check=False).returncode == 1  # refused before any change
        sh("chmod 755 /root")  # in the container's overlay only

    first = sh(install).stdout
    assert "create system user tryton" in first and "enable tryton-erp-backup.timer" in first
    assert "not started: the database is not ready" in first
    init = next(line for line in first.splitlines() if line.startswith("note: database 'erp'"))
    command = init.split("`")[1]
    assert command.startswith("runuser -u tryton -- ") and command.endswith(" db init")
    sh(command)  # what the note says, as the operator would

    started = sh(install).stdout
    for unit in ("app", "front", "stat"):
        assert f"start tryton-erp-{unit}.service" in started
        assert sh(f"systemctl is-active tryton-erp-{unit}.service").stdout.strip() == "active"
    assert "answers: http://127.0.0.1:8000/ (trytond " in started
    assert "answers: http://127.0.0.1:8080/ (trytond " in started  # through nginx
    assert sh("systemctl is-active tryton-erp-backup.timer").stdout.strip() == "active"
    processes = sh("ps -o user= -C python3,nginx").stdout.split()
    assert processes and set(processes) == {"tryton"}  # nothing runs as root

    sh("systemctl start tryton-erp-backup.service")  # what the timer starts at 02:30
    archives = sh("stat -c '%a %U %n' /srv/erp/data/backups/erp-*.tar.gz").stdout.split()
    assert archives[:2] == ["600", "tryton"], archives
    status = sh(f"{TRYTON_OPS} -c /srv/erp/tryton-ops.toml status", check=False).stdout
    assert "last backup:" in status and "daily at 02:30" in status

    again = sh(install).stdout
    assert again.startswith("nothing to change: erp is installed as rendered"), again
    assert "answers: http://127.0.0.1:8000/" in again

    sh("sed -i 's/^workers = 2/workers = 1/' /srv/erp/tryton-ops.toml")
    changed = sh(install).stdout
    assert "update /etc/tryton/erp/gunicorn.conf.py (0640 root:tryton)" in changed
    assert "restart tryton-erp-app.service (its files changed)" in changed
    assert "answers: http://127.0.0.1:8000/" in changed
