"""`tryton-ops top` in a real terminal (a pty): `q` quits, the terminal is given back intact."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import termios
from pathlib import Path

from tests.lifecycle.helpers import write_toml

TRYTON_OPS = str(Path(sys.executable).with_name("tryton-ops"))


def read_until(fd: int, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        chunk = os.read(fd, 4096)
        assert chunk, f"the terminal closed before {marker!r}: {seen!r}"
        seen += chunk
    return seen


def test_q_quits_top(make_trytond_db):
    db = make_trytond_db("sqlite")
    config = write_toml(db.config, db.config.data_dir.parent / "tryton-ops.toml")
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(
        [TRYTON_OPS, "-c", str(config), "top", "--interval", "3600"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    try:
        screen = read_until(master, b"(q quits)")
        assert b"not running" in screen
        os.write(master, b"q")
        assert proc.wait(timeout=60) == 0  # an hour's interval: only the key can end it
        assert termios.tcgetattr(slave) == before  # echo and line mode restored
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)


def test_top_without_a_terminal_runs_its_iterations(make_trytond_db):
    db = make_trytond_db("sqlite")
    config = write_toml(db.config, db.config.data_dir.parent / "tryton-ops.toml")
    result = subprocess.run(
        [TRYTON_OPS, "-c", str(config), "top", "--iterations", "2", "--interval", "0.1"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "not running" in result.stdout
