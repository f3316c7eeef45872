"""The interactive console of `tryton-ops eval` (over a pipe and on a pseudo-terminal) and the
eval history of databases without ops_debug (a file per user under the run directory)."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time

from tests.lifecycle.helpers import cli, write_toml
from tryton_ops.debug.history import LocalHistory, history_root
from tryton_ops.testing.databases import derive

SESSION = (
    "Party = models['party.party']\n"
    "Party.create([{'name': 'From the console'}])\n"
    "print('count', Party.search_count([]))\n"
    "record('party.party', Party.search([])[0].id).name\n"
    "for party in Party.search([]):\n"
    "    print('seen', party.rec_name)\n"
    "\n"
)


def console(config, *args: str, stdin: str) -> subprocess.CompletedProcess:
    """The real `tryton-ops eval --console`, its input from a pipe."""
    path = write_toml(config, config.data_dir.parent / "tryton-ops.toml")
    return subprocess.run(
        [sys.executable, "-m", "tryton_ops", "-c", str(path), "eval", "--console", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def count(config) -> str:
    result = cli(config, "eval", "get('party.party').search_count([])")
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[0]


def test_console_over_a_pipe_and_local_history(make_trytond_db):
    database = make_trytond_db("sqlite")  # party only: no ops_debug, history in a file
    config = derive(database.config, {"debug": {"eval": True}})

    done = console(config, stdin=SESSION)
    assert done.returncode == 0, done.stderr
    assert f"tryton-ops console on {database.name!r} as 'admin'" in done.stderr  # the banner
    assert "count 1" in done.stdout and "'From the console'" in done.stdout
    assert "seen From the console" in done.stdout  # a block over several lines
    assert done.stderr.rstrip().endswith("(rolled back)")
    assert count(config) == "0"  # the session's transaction was rolled back

    done = console(config, "--commit", stdin="models['party.party'].create([{'name': 'Kept'}])\n")
    assert done.returncode == 0 and done.stderr.rstrip().endswith("(committed)"), done.stderr
    assert count(config) == "1"

    done = console(config, stdin="1/0\nprint('still here')\n")  # errors do not end the session
    assert "ZeroDivisionError" in done.stderr and "still here" in done.stdout

    result = cli(config, "eval", "--history", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    # newest first: the 1/0 session, a count, the committed session, a count, the first
    assert [r["committed"] for r in rows] == [False, False, True, False, False]
    assert rows[0]["code"] == "1/0\nprint('still here')\n"
    assert "From the console" in rows[-1]["code"] and "for party in" in rows[-1]["code"]
    assert rows[-2]["code"] == rows[-2]["code"].strip() == "get('party.party').search_count([])"
    assert rows[-2]["result"] == "0"
    store = history_root(config.run_dir) / database.name / "admin.jsonl"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    text = cli(config, "eval", "--history")
    assert "committed" in text.output and "models['party.party'].create" in text.output


def test_console_refused_when_disabled_or_remote(make_trytond_db):
    database = make_trytond_db("sqlite")
    done = console(database.config, stdin="1\n")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()  # one clear line, no banner, no traceback
    assert line.startswith("error: code evaluation is disabled: set `[debug] eval = true`")
    enabled = derive(database.config, {"debug": {"eval": True}})
    result = cli(enabled, "eval", "--console", "--url", "http://127.0.0.1:9/")
    assert result.exit_code == 1
    assert "error: the console runs in process" in result.output


def _read_until(fd: int, marker: bytes, timeout: float = 60.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data += os.read(fd, 4096)
            except OSError:  # the other side closed
                break
    return data


def test_eval_without_expression_on_a_terminal_opens_the_console(make_trytond_db):
    database = make_trytond_db("sqlite")
    config = derive(database.config, {"debug": {"eval": True}})
    path = write_toml(config, config.data_dir.parent / "tryton-ops.toml")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tryton_ops", "-c", str(path), "eval"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    try:
        assert b">>> " in _read_until(master, b">>> ")
        os.write(master, b"6 * 7\n")
        assert b"42" in _read_until(master, b"42")
        os.write(master, b"\x04")  # Ctrl-D ends the session
        assert b"(rolled back)" in _read_until(master, b"(rolled back)")
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_local_history_is_per_user_and_bounded(tmp_path, monkeypatch):
    import tryton_ops.debug.history as history

    monkeypatch.setattr(history, "MAX_ENTRIES", 2)
    admin, other = LocalHistory(tmp_path, "db", "admin"), LocalHistory(tmp_path, "db", "a/b")
    for n in range(3):
        admin.append(f"code {n}", {"committed": False, "result": str(n), "duration": 0.1})
    other.append("x", {"error": {"type": "ValueError", "message": "bad"}})
    assert [(e["id"], e["code"]) for e in admin.recent(10)] == [(3, "code 2"), (2, "code 1")]
    (entry,) = other.recent(10)
    assert entry["error"] == "ValueError: bad" and entry["id"] == 1
    assert (tmp_path / "db" / "a%2Fb.jsonl").is_file()  # a login is one path component
    assert admin.recent(1)[0]["result"] == "2"
