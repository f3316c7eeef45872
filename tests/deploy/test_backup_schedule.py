"""The daily backup: a program of the local stack (`up`), a systemd timer in `deploy render`."""

from __future__ import annotations

import configparser
import json
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.deploy.test_render import CONFIG, render
from tests.deploy.test_systemd_units import sections
from tests.deploy.test_up_down import cli, down_after, wait_for, write_config  # noqa: F401
from tryton_ops.deploy.timer import due, last_due

pytestmark = pytest.mark.one_series  # the loop, the units and `up` do not depend on the series

SCHEDULE = '[backup]\nschedule = true\nat = "03:15"\nkeep_daily = 2\n'


def test_due_after_each_missed_time_of_day(tmp_path):
    now = datetime(2026, 12, 2, 10, 0)
    assert last_due("03:15", now) == datetime(2026, 12, 2, 3, 15)
    assert last_due("23:00", now) == datetime(2026, 12, 1, 23, 0)
    stamp = tmp_path / "stamp"
    assert due("03:15", stamp, now)  # never ran: at once, like Persistent=true
    stamp.write_text(str(datetime(2026, 12, 2, 3, 16).timestamp()))
    assert not due("03:15", stamp, now)
    assert due("03:15", stamp, datetime(2026, 12, 3, 3, 15))
    stamp.write_text("garbage")
    assert due("03:15", stamp, now)


def _loop(tmp_path: Path, command: list[str]) -> tuple[str, Path]:
    """Start the loop, wait for its first run to end, stop it; its output and stamp file."""
    stamp, log = tmp_path / "stamp", tmp_path / "log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tryton_ops.deploy.timer", "--at", "00:00",
             "--stamp", str(stamp), "--", *command],
            stdout=out,
        )  # fmt: skip
        try:
            wait_for(lambda: "done" in log.read_text() or "retrying" in log.read_text())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    assert proc.returncode == 0  # stops cleanly on SIGTERM
    return log.read_text(), stamp


def test_loop_runs_at_once_records_success_and_retries_failure(tmp_path):
    marker = tmp_path / "ran"
    out, stamp = _loop(tmp_path, ["touch", str(marker)])
    assert marker.exists() and stamp.exists() and "done" in out
    failing = tmp_path / "failing"
    failing.mkdir()
    out, stamp = _loop(failing, ["false"])
    assert "failed (exit 1); retrying in 600 s" in out and not stamp.exists()


def test_up_runs_the_daily_backup_and_status_shows_it(tmp_path, make_trytond_db, down_after):  # noqa: F811
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db, workers=1)
    config.write_text(config.read_text() + SCHEDULE)
    down_after(config)
    result = cli(config, "up", "--detach")
    assert result.returncode == 0, result.stderr
    folder = db.config.data_dir / "backups"
    # never backed up, so the first run is due at once (then daily at 03:15)
    archive = wait_for(lambda: sorted(folder.glob(f"{db.name}-*.tar.gz")), timeout=60)[0]
    data = json.loads(cli(config, "status", "--json").stdout)
    assert {"backup"} <= {row["role"] for row in data["processes"]}
    wait_for(lambda: json.loads(cli(config, "status", "--json").stdout)["last_backup"])
    text = cli(config, "status").stdout
    assert "last backup:" in text and "daily at 03:15" in text and archive.name in text
    log = cli(config, "logs", "backup", "-n", "50")
    assert log.returncode == 0, log.stderr
    assert "db backup --prune" in log.stdout and "retention: keep 2 daily" in log.stdout
    assert cli(config, "down").returncode == 0


def test_render_writes_a_timer_and_a_oneshot_service(tmp_path):
    _, out, result = render(tmp_path, CONFIG + SCHEDULE)
    assert result.returncode == 0, result.stderr
    service = out / "systemd" / "tryton-erp-backup.service"
    timer = out / "systemd" / "tryton-erp-backup.timer"
    unit = sections(service.read_text())
    assert unit["Service"]["Type"] == "oneshot" and "Install" not in unit
    exec_start = unit["Service"]["ExecStart"]
    assert exec_start.endswith(f"-c {out.absolute()}/tryton-ops.toml db backup --prune")
    assert unit["Service"]["User"] == "tryton" and unit["Service"]["ProtectSystem"] == "strict"
    schedule = sections(timer.read_text())
    assert schedule["Timer"]["OnCalendar"] == "*-*-* 03:15:00"
    assert schedule["Timer"]["Persistent"] == "true"
    assert schedule["Timer"]["Unit"] == service.name
    assert schedule["Install"]["WantedBy"] == "timers.target"
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed: apt-get install systemd"
    for path in (service, timer):
        proc = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stderr == "", (path.name, proc.stderr)
    supervisord = configparser.RawConfigParser()
    supervisord.read(out / "supervisord.conf")
    command = supervisord["program:backup"]["command"]
    assert "tryton_ops.deploy.timer --at 03:15" in command and "db backup --prune" in command


def test_backups_elsewhere_are_writable_by_the_job(tmp_path):
    text = CONFIG.replace("[paths]\n", '[paths]\nbackups = "/srv/backups/erp"\n')
    _, out, result = render(tmp_path, text + SCHEDULE)
    assert result.returncode == 0, result.stderr
    job = sections((out / "systemd" / "tryton-erp-backup.service").read_text())["Service"]
    assert job["ReadWritePaths"].split()[-1] == "/srv/backups/erp"
    app = sections((out / "systemd" / "tryton-erp-app.service").read_text())["Service"]
    assert "/srv/backups/erp" not in app["ReadWritePaths"]
