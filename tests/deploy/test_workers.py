"""The `stat` program: trytond's status socket shared by two stacks on one database directory;
trytond's own status reports (sent by trytond.status.dump in a real trytond process) become
per-worker requests in flight; garbage and too long paths are handled."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from tryton_ops.deploy.programs import programs
from tryton_ops.deploy.workers import in_flight, snapshot_file, socket_file
from tryton_ops.testing.databases import make_config

SENDER = """
import os, sys, time
import trytond.status as status
request = "<JSONRequest 1@127.0.0.1 'http://h/db/rpc/' [POST] model.party.party.write>"
status.status[1] = status.Process(time.perf_counter() - 3, request)
assert status.dump(sys.argv[1])
print(os.getpid())
"""


def listener(sock: Path, snapshot: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tryton_ops.deploy.workers", str(sock), str(snapshot)],
        stderr=subprocess.PIPE,
        text=True,
    )


def report(sock: Path, pid: int) -> None:
    """What a trytond worker sends (trytond/status.py): one JSON message, then close."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        conn.sendall(json.dumps({"id": f"{pid}@host", "status": [], "caches": []}).encode())


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def reported_pids(snapshot: Path) -> set[str]:
    try:
        return set(json.loads(snapshot.read_text())["processes"])
    except (OSError, ValueError):
        return set()


def test_second_listener_waits_then_takes_over(tmp_path):
    sock = tmp_path / "trytond-stat.socket"
    first = listener(sock, tmp_path / "a.json")
    wait_for(sock.exists)
    second = listener(sock, tmp_path / "b.json")
    try:
        time.sleep(1.0)
        assert second.poll() is None, second.stderr.read()  # waiting, not failed
        report(sock, 101)
        wait_for(lambda: "101@host" in reported_pids(tmp_path / "a.json"))
        first.terminate()
        first.wait(10)
        wait_for(lambda: sock.exists() and second.poll() is None)
        wait_for(lambda: _accepts(sock))
        report(sock, 202)
        wait_for(lambda: "202@host" in reported_pids(tmp_path / "b.json"))
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait(10)
    assert "is in use" in second.stderr.read()


def test_stale_socket_file_is_replaced(tmp_path):
    sock = tmp_path / "trytond-stat.socket"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(sock))  # bound, never listening: what a killed listener leaves
    dead.close()
    proc = listener(sock, tmp_path / "s.json")
    try:
        wait_for(lambda: _accepts(sock))
        report(sock, 303)
        wait_for(lambda: "303@host" in reported_pids(tmp_path / "s.json"))
    finally:
        proc.kill()
        proc.wait(10)


def _accepts(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(sock))
        except OSError:
            return False
    return True


def test_trytond_reports_become_requests_in_flight(tmp_path):
    config = make_config(tmp_path, {})
    sock, snapshot = socket_file(config), snapshot_file(config)
    assert in_flight(config, [])["available"]  # nothing runs: nothing to say
    nothing = in_flight(config, [4242])
    assert not nothing["available"] and nothing["reason"].startswith("no worker reported")

    sock.parent.mkdir(parents=True)
    snapshot.parent.mkdir(parents=True)
    proc = listener(sock, snapshot)
    try:
        wait_for(lambda: _accepts(sock), timeout=30)
        with socket.socket(socket.AF_UNIX) as garbage:
            garbage.connect(str(sock))
            garbage.sendall(b"not json")
        sent = subprocess.run(
            [sys.executable, "-c", SENDER, str(sock.parent)],
            capture_output=True,
            text=True,
            check=True,
        )
        pid = int(sent.stdout.strip())
        wait_for(snapshot.exists)
        data = in_flight(config, [pid, 4242])
        assert data["available"] and set(data["by_pid"]) == {pid}  # 4242 never reported
        (request,) = data["by_pid"][pid]
        assert request["since_s"] >= 3
        assert request["request"].endswith("[POST] model.party.party.write>")
        assert proc.poll() is None  # the garbage did not stop it
        assert oct(snapshot.stat().st_mode)[-3:] == "600"
    finally:
        proc.kill()
        proc.wait(10)


def test_socket_path_too_long(tmp_path):
    config = make_config(tmp_path / ("d" * 110), {})
    assert "stat" not in [program.name for program in programs(config)]
    data = in_flight(config, [1])
    assert not data["available"]
    assert "longer than 107 bytes" in data["reason"] and "paths.data" in data["reason"]
