"""The `stat` listener: trytond's own status reports (sent by trytond.status.dump in a real
trytond process) become per-worker requests in flight; garbage, stale sockets and too long
paths are handled."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from tryton_ops.admin.workers import in_flight, snapshot_file, socket_file
from tryton_ops.deploy.programs import programs
from tryton_ops.testing.databases import make_config

SENDER = """
import os, sys, time
import trytond.status as status
request = "<JSONRequest 1@127.0.0.1 'http://h/db/rpc/' [POST] model.party.party.write>"
status.status[1] = status.Process(time.perf_counter() - 3, request)
assert status.dump(sys.argv[1])
print(os.getpid())
"""


def _connects(path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
            return True
        except OSError:
            return False


def test_listener_turns_trytond_reports_into_requests_in_flight(tmp_path):
    config = make_config(tmp_path, {})
    sock, snapshot = socket_file(config), snapshot_file(config)
    assert in_flight(config, [])["available"]  # nothing runs: nothing to say
    nothing = in_flight(config, [4242])
    assert not nothing["available"] and nothing["reason"].startswith("no worker reported")

    sock.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))  # left behind by a listener that was killed
    stale.close()
    snapshot.parent.mkdir(parents=True)
    listener = subprocess.Popen(
        [sys.executable, "-m", "tryton_ops.admin.workers", str(sock), str(snapshot)]
    )
    try:
        deadline = time.monotonic() + 30
        while not _connects(sock):
            assert listener.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
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
        while not snapshot.exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        data = in_flight(config, [pid, 4242])
        assert data["available"] and set(data["by_pid"]) == {pid}  # 4242 never reported
        (request,) = data["by_pid"][pid]
        assert request["since_s"] >= 3
        assert request["request"].endswith("[POST] model.party.party.write>")
        assert listener.poll() is None  # the garbage did not stop it
        assert oct(snapshot.stat().st_mode)[-3:] == "600"
    finally:
        listener.terminate()
        listener.wait(10)


def test_socket_path_too_long(tmp_path):
    config = make_config(tmp_path / ("d" * 110), {})
    assert "stat" not in [program.name for program in programs(config)]
    data = in_flight(config, [1])
    assert not data["available"]
    assert "longer than 107 bytes" in data["reason"] and "paths.data" in data["reason"]
