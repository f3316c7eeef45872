"""The `stat` program: trytond's status socket shared by two stacks on one database directory."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path


def listener(sock: Path, snapshot: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tryton_ops.admin.workers", str(sock), str(snapshot)],
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
