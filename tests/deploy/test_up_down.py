"""`tryton-ops up` / `down` / `status` driven as a user would: the real command, real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tryton_ops.client import Connection
from tryton_ops.testing.databases import TestDatabase
from tryton_ops.testing.processes import free_port

TRYTON_OPS = str(Path(sys.executable).with_name("tryton-ops"))


def write_config(
    path: Path, db: TestDatabase | None = None, front: dict | None = None, **server
) -> Path:
    """A tryton-ops.toml for `db` (or a fresh SQLite deployment) listening on free ports.

    nginx stays off unless `front` is given (it is installed here, so "auto" would use it).
    """
    server.setdefault("listen", f"127.0.0.1:{free_port()}")
    server.setdefault("workers", 2)
    lines = [f'[paths]\ndata = "{path / "data"}"\nrun = "{path / "run"}"', "[database]"]
    if db is not None:
        settings = db.config.settings
        lines = [
            f'[paths]\ndata = "{db.config.data_dir}"\nrun = "{path / "run"}"',
            "[database]",
            f'uri = "{settings.database.uri}"',
            f'name = "{db.name}"',
            f'admin_password_file = "{settings.database.admin_password_file}"',
        ]
    lines.append("[server]")
    lines += [f"{key} = {json.dumps(value)}" for key, value in server.items()]
    front = {"enabled": "off", **(front or {})}
    front.setdefault("listen", f"127.0.0.1:{free_port()}")
    front.setdefault("tls_listen", f"127.0.0.1:{free_port()}")
    lines.append("[front]")
    lines += [f"{key} = {json.dumps(value)}" for key, value in front.items()]
    config = path / "tryton-ops.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def cli(config: Path, *args: str, env: dict | None = None, timeout: float = 180):
    return subprocess.run(
        [TRYTON_OPS, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def status(config: Path) -> dict:
    return json.loads(cli(config, "status", "--json").stdout)


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (zombies count as gone)."""
    found = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except psutil.NoSuchProcess:
            continue
    return found


def all_pids(config: Path) -> list[int]:
    return [row["pid"] for row in status(config)["processes"]]


def pid_of(config: Path, role: str) -> int:
    return next(row["pid"] for row in status(config)["processes"] if row["role"] == role)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def down_after():
    configs: list[Path] = []
    yield configs.append
    for config in configs:
        cli(config, "down")


def test_first_up_creates_demo_database_then_down(tmp_path, down_after):
    config = write_config(tmp_path)
    down_after(config)
    result = cli(config, "up", "--detach", env={"TRYTON_OPS_DATABASE__DEMO_RECORDS": "40"})
    assert result.returncode == 0, result.stderr
    assert "ready: http://127.0.0.1:" in result.stdout
    assert "database: demo" in result.stdout and "login:    admin" in result.stdout
    url = result.stdout.split("ready: ")[1].split()[0]
    password = (tmp_path / "data" / "admin-password").read_text().strip()
    assert oct((tmp_path / "data" / "admin-password").stat().st_mode)[-3:] == "600"
    with Connection(url, "demo") as conn:
        assert conn.call("common.server.version") in ("8.0", "8.2")
        conn.login("admin", password)
        parties = conn.call(
            "model.party.party.search_read", [], 0, None, None, ["name", "addresses"], {}
        )
        assert len(parties) == 40
        assert all(len(p["addresses"]) == 1 for p in parties)
    info = status(config)
    assert info["running"] is True
    roles = sorted(p["role"] for p in info["processes"])
    assert roles == ["app", "app-worker", "app-worker", "stat", "supervisor"]
    pids = all_pids(config)
    assert cli(config, "down").stdout.strip() == "stopped."
    assert alive(pids) == []
    assert cli(config, "status").returncode == 1
    assert cli(config, "down").stdout.strip() == "not running."


def test_up_creates_its_database_from_the_template_cache(tmp_path, down_after):
    """`up` creates its database the way `db init` does: a module set seen before is a copy."""
    config = write_config(tmp_path, workers=1)
    down_after(config)
    seeded = cli(config, "db", "init", "-d", "seed", "--json")
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["from_template"] is False
    result = cli(config, "up", "--detach")
    assert result.returncode == 0, result.stderr
    assert "creating database 'demo' (sqlite) ..." in result.stdout.splitlines()
    assert "created 'demo': copied from the template cache in" in result.stdout
    password = (tmp_path / "data" / "admin-password").read_text().strip()
    url = result.stdout.split("ready: ")[1].split()[0]
    with Connection(url, "demo") as conn:
        conn.login("admin", password)
        assert conn.call("model.party.party.search_count", [], {}) == 0
    assert cli(config, "down").returncode == 0


def test_up_on_existing_database_both_backends(tmp_path, trytond_db, down_after):
    config = write_config(tmp_path, trytond_db, workers=2)
    down_after(config)
    result = cli(config, "up", "--detach")
    assert result.returncode == 0, result.stderr
    assert "creating database" not in result.stdout
    url = result.stdout.split("ready: ")[1].split()[0]
    with Connection(url, trytond_db.name) as conn:
        conn.login("admin", trytond_db.password)
        [party_id] = conn.call("model.party.party.create", [{"name": "Via up"}], {})
        names = conn.call("model.party.party.read", [party_id], ["name"], {})
        assert names[0]["name"] == "Via up"
    assert cli(config, "down").returncode == 0


@pytest.mark.one_series  # our supervisor's process handling: the same on every series
def test_worker_crash_is_replaced_and_down_leaves_nothing(tmp_path, make_trytond_db, down_after):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db, workers=2)
    down_after(config)
    result = cli(config, "up", "--detach")
    assert result.returncode == 0, result.stderr
    victim = pid_of(config, "app-worker")
    os.kill(victim, signal.SIGKILL)

    def replaced():
        workers = [p["pid"] for p in status(config)["processes"] if p["role"] == "app-worker"]
        return len(workers) == 2 and victim not in workers

    wait_for(replaced)
    url = result.stdout.split("ready: ")[1].split()[0]
    with Connection(url, db.name) as conn:
        conn.login("admin", db.password)
        assert conn.call("model.party.party.search_count", [], {}) >= 0
    pids = all_pids(config)
    assert cli(config, "down").returncode == 0
    assert alive(pids) == []


@pytest.mark.one_series  # our supervisor's process handling: the same on every series
def test_supervisor_restarts_a_crashed_gunicorn(tmp_path, make_trytond_db, down_after):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db, workers=1)
    down_after(config)
    result = cli(config, "up", "--detach")
    assert result.returncode == 0, result.stderr
    master = pid_of(config, "app")
    os.kill(master, signal.SIGKILL)  # the whole gunicorn, not one worker

    def back():
        rows = {row["role"]: row for row in status(config)["processes"]}
        app = rows.get("app")
        return app and app["pid"] != master and app["state"] == "RUNNING" and app["restarts"] == 1

    wait_for(back, timeout=60)
    url = result.stdout.split("ready: ")[1].split()[0]

    def answers():
        try:
            with Connection(url, db.name) as conn:
                conn.login("admin", db.password)
                return True
        except Exception:
            return False

    wait_for(answers, timeout=60)
    text = cli(config, "status").stdout
    assert "RESTARTS" in text


@pytest.mark.one_series  # our supervisor's process handling: the same on every series
def test_supervisor_crash_then_down_ends_orphans(tmp_path, make_trytond_db, down_after):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db, workers=2)
    down_after(config)
    assert cli(config, "up", "--detach").returncode == 0
    pids = all_pids(config)
    os.kill(pid_of(config, "supervisor"), signal.SIGKILL)
    wait_for(lambda: status(config)["running"] is False)
    assert len(alive(pids)) == len(pids) - 1  # the programs are orphaned, still running
    result = cli(config, "down")
    assert result.returncode == 0
    assert "leftover processes were ended" in result.stdout
    assert alive(pids) == []
    # a new `up` after the crash works: the stale record does not block it
    assert cli(config, "up", "--detach").returncode == 0
    assert cli(config, "down").stdout.strip() == "stopped."


def start_foreground(config: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [TRYTON_OPS, "-c", str(config), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("Ctrl-C stops it"):
            return proc
    raise AssertionError(f"up exited with {proc.wait()} before being ready")


@pytest.mark.one_series  # our supervisor's process handling: the same on every series
def test_foreground_ctrl_c_stops_cleanly(tmp_path, make_trytond_db, down_after):
    config = write_config(tmp_path, make_trytond_db("sqlite"), workers=2)
    down_after(config)
    proc = start_foreground(config)
    pids = all_pids(config)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert "stopped." in proc.stdout.read()
    assert alive(pids) == []
    assert status(config)["running"] is False


@pytest.mark.one_series  # our supervisor's process handling: the same on every series
def test_killed_up_takes_its_server_down(tmp_path, make_trytond_db, down_after):
    config = write_config(tmp_path, make_trytond_db("sqlite"), workers=2)
    down_after(config)
    proc = start_foreground(config)
    pids = all_pids(config)
    proc.kill()  # `up` crashes: SIGKILL cannot be handled
    proc.wait()
    wait_for(lambda: alive(pids) == [], timeout=60)


def test_up_twice_is_refused(tmp_path, make_trytond_db, down_after):
    config = write_config(tmp_path, make_trytond_db("sqlite"), workers=1)
    down_after(config)
    assert cli(config, "up", "--detach").returncode == 0
    again = cli(config, "up", "--detach")
    assert again.returncode == 1
    assert "already running" in again.stderr and "tryton-ops down" in again.stderr


def test_port_in_use_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, listen=f"127.0.0.1:{port}")
        result = cli(config, "up", "--detach")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "db").exists()  # nothing was created


def test_missing_module_is_a_clear_error(tmp_path):
    config = write_config(tmp_path)
    result = cli(config, "up", "--detach", env={"TRYTON_OPS_DATABASE__MODULES": "party,nosuch"})
    assert result.returncode == 2  # bad input: nothing was started
    assert "module(s) not installed: nosuch: not a standard Tryton module" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "data").glob("db/*.sqlite"))


def test_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = tmp_path / "tryton-ops.toml"
    config.write_text(
        f'[paths]\nrun = "{blocker / "run"}"\n[server]\nlisten = "127.0.0.1:{free_port()}"\n'
    )
    result = cli(config, "up", "--detach")
    assert result.returncode == 1
    assert f"directory {blocker / 'run'} is not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_database_is_refused(tmp_path):
    config = write_config(tmp_path, workers=1)
    db_dir = tmp_path / "data" / "db"
    db_dir.mkdir(parents=True)
    (db_dir / "demo.sqlite").write_bytes(b"this is not a database" * 100)
    result = cli(config, "up", "--detach")
    assert result.returncode == 1
    assert "exists but is not a Tryton database" in result.stderr
    assert (db_dir / "demo.sqlite").read_bytes().startswith(b"this is not")  # left untouched


@pytest.mark.parametrize("app_server", ["gunicorn", "uwsgi"])
def test_server_failing_to_start_reports_its_log(tmp_path, make_trytond_db, down_after, app_server):
    """A module activated in the database is not installed: the workers fail to boot."""
    import sqlite3

    db = make_trytond_db("sqlite")
    with sqlite3.connect(db.config.data_dir / "db" / f"{db.name}.sqlite") as conn:
        conn.execute("INSERT INTO ir_module (name, state) VALUES ('ghost', 'activated')")
    config = write_config(tmp_path, db, workers=1, app_server=app_server)
    down_after(config)
    result = cli(config, "up", "--detach", timeout=240)
    assert result.returncode == 1
    assert "program 'app' keeps failing to start" in result.stderr
    assert "ghost/tryton.cfg" in result.stderr  # the log tail says why
    assert "Traceback" not in result.stderr.split("last lines")[0]
    assert status(config)["processes"] == []


def test_sigterm_while_starting_leaves_nothing(tmp_path):
    """SIGTERM before the stack is ready (e.g. `podman stop` at once) stops what was begun."""
    config = write_config(tmp_path, workers=1)
    proc = subprocess.Popen(
        [TRYTON_OPS, "-c", str(config), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TRYTON_OPS_DATABASE__DEMO_RECORDS": "200"},
    )
    first = proc.stdout.readline()
    if first.startswith("web client:"):  # what `up` says of the web client comes first
        first = proc.stdout.readline()
    assert first.startswith("creating database")
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    assert "interrupted; stopped." in proc.stdout.read()
    assert status(config)["processes"] == []
    assert not list((tmp_path / "data" / "db").glob("*.sqlite"))  # the half-made database
