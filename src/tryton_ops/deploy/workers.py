"""Per-worker requests in flight, from trytond's own status socket (`trytond/status.py`).

Every trytond process, from its first request on, runs a thread that sends its requests in
flight and its cache counters as JSON to the UNIX socket `<[database] path>/trytond-stat.socket`
(the one `trytond-stat` listens on): every 5 s while something listens there, every 60 s
otherwise. The stack runs one listener, the `stat` program (`python -m
tryton_ops.deploy.workers`), which keeps the latest message of each process in
`<run dir>/worker-status.json`; `status` and `top` read that file and answer at once instead of
waiting up to a minute for the workers' next report.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import database_path

SOCKET_NAME = "trytond-stat.socket"  # trytond.status.address
SNAPSHOT = "worker-status.json"
FRESH_S = 15.0  # a listened-to worker reports every 5 s: older news is about a dead worker
KEEP_S = 120.0  # how long the listener keeps the last report of a silent process
MAX_MESSAGE = 1 << 20  # bytes: a report is a few KiB; anything bigger is not a worker's
MAX_SOCKET_PATH = 107  # sockaddr_un.sun_path, less the terminating NUL


def socket_file(config: LoadedConfig) -> Path:
    """Where trytond's workers send their status (trytond reads `[database] path`)."""
    return database_path(config) / SOCKET_NAME


def snapshot_file(config: LoadedConfig) -> Path:
    return config.run_dir / SNAPSHOT


def unavailable_reason(config: LoadedConfig) -> str | None:
    """Why the workers cannot report on this deployment, or None when they can."""
    path = str(socket_file(config))
    if len(path.encode()) > MAX_SOCKET_PATH:
        return (
            f"trytond's status socket path {path} is longer than {MAX_SOCKET_PATH} bytes "
            "(UNIX socket limit); set paths.data in tryton-ops.toml to a shorter directory"
        )
    return None


def _in_use(path: Path) -> bool:
    """True when a listener answers on `path`; a socket file nobody answers on is removed."""
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(path))
    except FileNotFoundError:
        return False
    except ConnectionRefusedError:
        path.unlink(missing_ok=True)  # left by a listener that was killed
        return False
    finally:
        probe.close()
    return True


def _bind(path: Path, retry_s: float = 5.0) -> socket.socket:
    """Listen on `path`; while another listener holds it, wait instead of failing the stack.

    Another stack on the same database directory (or a `trytond-stat`) may own the socket:
    the workers' reports then go there, and this listener takes over once it is free.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if _in_use(path):
        print(
            f"{path} is in use (another stack on this database, or trytond-stat); "
            "waiting for it to be free",
            file=sys.stderr,
            flush=True,
        )
        while _in_use(path):
            time.sleep(retry_s)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.listen(16)
    sock.settimeout(5)
    return sock


def _receive(conn: socket.socket) -> dict[str, Any] | None:
    """One report (the sender writes it and closes); None if it is not one."""
    conn.settimeout(2)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := conn.recv(65536):
            data += chunk
            if len(data) > MAX_MESSAGE:
                return None
    try:
        report = json.loads(data)
    except ValueError:
        return None
    if not isinstance(report, dict) or not isinstance(report.get("id"), str):
        return None
    return report


def _write(path: Path, reports: dict[str, dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"processes": reports}))
    tmp.replace(path)


def serve(socket_path: Path, snapshot_path: Path) -> None:
    """The `stat` program: receive every worker's reports, keep the latest of each."""
    reports: dict[str, dict[str, Any]] = {}
    sock = _bind(socket_path)
    try:
        while True:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                report = _receive(conn)
            if report is None:
                continue
            now = time.time()
            reports[report["id"]] = {
                "received": now,
                "status": report.get("status") or [],
                "caches": report.get("caches") or [],
            }
            for key in [k for k, v in reports.items() if now - v["received"] > KEEP_S]:
                del reports[key]
            _write(snapshot_path, reports)
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            socket_path.unlink()


def _fresh_reports(config: LoadedConfig, now: float) -> dict[int, dict[str, Any]]:
    """The recent reports by pid (all processes of one host share the socket)."""
    try:
        data = json.loads(snapshot_file(config).read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for key, report in (data.get("processes") or {}).items():
        pid, _, _node = key.partition("@")
        if pid.isdigit() and now - report.get("received", 0) <= FRESH_S:
            out[int(pid)] = report
    return out


def in_flight(config: LoadedConfig, pids: list[int]) -> dict[str, Any]:
    """Requests in flight per worker, for `status`.

    `by_pid[pid]` is a list (empty: idle) for a worker that reported recently, and absent for
    one that has not (a worker starts reporting at its first request).
    """
    reason = unavailable_reason(config)
    if reason is not None:
        return {"available": False, "reason": reason, "by_pid": {}, "caches": []}
    now = time.time()
    reports = {pid: r for pid, r in _fresh_reports(config, now).items() if pid in pids}
    if pids and not reports:
        reason = (
            f"no worker reported in the last {FRESH_S:.0f} s (a worker reports from its first "
            "request on, to the stack's `stat` program)"
        )
        return {"available": False, "reason": reason, "by_pid": {}, "caches": []}
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for pid, report in reports.items():
        late = now - report["received"]  # `since` was measured when the worker sent it
        by_pid[pid] = sorted(
            (
                {"since_s": round(float(r.get("since", 0)) + late, 1), "request": r.get("request")}
                for r in report["status"]
            ),
            key=lambda r: -r["since_s"],
        )
    caches = [c for report in reports.values() for c in report["caches"]]
    return {"available": True, "reason": None, "by_pid": by_pid, "caches": caches}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tryton_ops.deploy.workers SOCKET SNAPSHOT", file=sys.stderr)
        return 2
    os.umask(0o077)  # the snapshot names the URLs being served
    serve(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
