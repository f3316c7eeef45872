"""`tryton-ops logs` on a real stack: merged by time, per program, followed, bad names."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from datetime import datetime, timedelta

import pytest

from tests.deploy.test_up_down import TRYTON_OPS, cli, down_after, write_config  # noqa: F401
from tryton_ops.client import Connection

pytestmark = pytest.mark.one_series  # our log files and their merging: the same on every series


def programs_of(output: str) -> list[str]:
    return [line.split(" | ", 1)[0].strip() for line in output.splitlines()]


def test_logs_of_a_running_stack(tmp_path, make_trytond_db, down_after):  # noqa: F811
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db, workers=1)
    with config.open("a") as fh:
        fh.write("[cron]\nenabled = true\n")
    down_after(config)
    started = cli(config, "up", "--detach")
    assert started.returncode == 0, started.stderr
    url = started.stdout.split("ready: ")[1].split()[0]

    everything = cli(config, "logs", "-n", "1000")
    assert everything.returncode == 0, everything.stderr
    lines = everything.stdout.splitlines()
    assert {"app", "supervisor"} <= set(programs_of(everything.stdout))
    assert cli(config, "logs", "cron").returncode == 0  # its file, empty until a task runs
    # interleaved by time: supervisord starts the app server before gunicorn says it started
    spawned = next(i for i, line in enumerate(lines) if "spawned: 'app'" in line)
    booted = next(i for i, line in enumerate(lines) if "Starting gunicorn" in line)
    assert lines[spawned].startswith("supervisor | ") and lines[booted].startswith("app ")
    assert spawned < booted

    last = cli(config, "logs", "app", "-n", "3")
    assert last.returncode == 0 and programs_of(last.stdout) == ["app"] * 3
    assert (
        last.stdout.splitlines()
        == [line.replace("app        | ", "app | ") for line in lines if line.startswith("app ")][
            -3:
        ]
    )
    later = (datetime.now() + timedelta(hours=1)).isoformat(timespec="seconds")
    assert cli(config, "logs", "--since", later).stdout == ""
    assert cli(config, "logs", "--since", "1h", "-n", "1000").stdout == everything.stdout

    bad = cli(config, "logs", "nginx")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "error: no program 'nginx' in" in bad.stderr
    assert "programs with logs: app, cron, stat, supervisor" in bad.stderr
    assert cli(config, "logs", "--since", "yesterday").returncode == 2

    # followed: a request made now shows up in the app's access log lines
    follower = subprocess.Popen(
        [TRYTON_OPS, "-c", str(config), "logs", "app", "-f", "-n", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in follower.stdout:
            seen.append(line)
            if '"POST /rpc/' in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        with Connection(url) as conn:
            while not found.wait(0.5):  # the follower may start reading after the first call
                conn.call("common.server.version")
                assert follower.poll() is None
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
    assert all(line.startswith("app | ") for line in seen)


def test_logs_before_the_stack_ever_ran(tmp_path):
    config = write_config(tmp_path)
    result = cli(config, "logs")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: no logs in {tmp_path / 'run' / 'logs'}: the stack has not run here" in (
        result.stderr
    )
