"""Logs hold search values and failed login names (issue 17 item 11): 0640 files in a 0750
directory, and every log of every program rotated (supervisord's own rotation for what it
captures, the rendered logrotate.conf for the files programs write themselves)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import httpx

from tests.deploy.test_up_down import cli, wait_for, write_config
from tryton_ops.client import Connection
from tryton_ops.config import load_config


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_logs_private_and_rotated_on_a_running_stack(make_trytond_db, tmp_path):
    db = make_trytond_db("sqlite")
    config_path = write_config(tmp_path, db, front={"enabled": "on"}, workers=1)
    config = load_config(config_path)
    logs = config.run_dir / "logs"
    old = os.umask(0o022)  # a usual login umask: the stack must not depend on it
    try:
        result = cli(config_path, "up", "--detach")
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    try:
        url = result.stdout.split("ready: ")[1].split()[0]
        with Connection(url, db.name) as conn:
            conn.login("admin", db.password)
        httpx.post(url + f"{db.name}/session/login", json={"login": "mallory", "password": "x"})
        wait_for(lambda: "session/login" in (logs / "nginx-access.log").read_text(), timeout=10)
        written = sorted(p for p in logs.iterdir() if p.is_file())
        names = {p.name for p in written}
        assert {"server.log", "access.log", "nginx-access.log", "supervisord.log"} <= names
        assert mode(logs) == 0o750
        assert {p.name: mode(p) for p in written if mode(p) & 0o027} == {}

        rotate = config.run_dir / "logrotate.conf"
        # what supervisord does not capture (and rotate) is listed for logrotate
        captured = {f"{p}.log" for p in ("app", "front", "stat", "supervisord")}
        listed = rotate.read_text().split("{")[0].split()[-len(names) :]
        assert names - captured - {"supervisord.log.prev"} <= {Path(p).name for p in listed}
        state = tmp_path / "logrotate.state"
        logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
        proc = subprocess.run(
            [logrotate, "--force", "--state", str(state), str(rotate)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        rotated = logs / "nginx-access.log.1"
        assert "session/login" in rotated.read_text()
        assert mode(rotated) == 0o640 and mode(logs / "nginx-access.log") == 0o640
        # copytruncate: the programs keep writing to the same, now empty, files
        # nginx writes the access line after the response has left: wait for it
        httpx.get(url + "anything")
        wait_for(lambda: "GET /anything" in (logs / "nginx-access.log").read_text(), timeout=10)
    finally:
        cli(config_path, "down")
