"""db update rehearses on a copy, applies with a way back, and survives being killed.

A throw-away module ops_suf (one model, a form view, one record) is changed in the ways an
update goes wrong: an error in its XML data, a failing migration, a smoke check that fails
(a field whose getter raises), a migration past the time limit. The live database must come
out row-equal, the stack must keep answering, maintenance must be off and the exit code 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tryton_ops.client.errors import TransportError
from tryton_ops.lifecycle import journal
from tryton_ops.lifecycle.backup import backups_dir
from tryton_ops.lifecycle.init import init_database
from tryton_ops.testing.databases import ADMIN_PASSWORD, TestDatabase, make_config

from .helpers import cli, table_checksums, use_modules, write_module, write_toml

CFG = """[tryton]
version=0.1
depends:
    ir
xml:
    thing.xml
[register]
model:
    thing.Thing
"""

VIEW = '<form><label name="name"/><field name="name"/></form>\n'

XML = """<?xml version="1.0"?>
<tryton>
    <data>
        <record model="ir.ui.view" id="thing_view_form">
            <field name="model">ops.suf.thing</field>
            <field name="type">form</field>
            <field name="name">thing_form</field>
        </record>
        <record model="ops.suf.thing" id="thing_one">
            <field name="name">one</field>
        </record>
{extra}    </data>
</tryton>
"""

THING = """import os
import time

from trytond.model import ModelSQL, ModelView, fields


class Thing(ModelSQL, ModelView):
    "Ops Thing"
    __name__ = "ops.suf.thing"
    name = fields.Char("Name")
{extra}"""

CODE = '    code = fields.Char("Code")\n'
MIGRATION = """
    @classmethod
    def __register__(cls, module):
        super().__register__(module)
{body}"""
BAD_RECORD = """        <record model="ops.suf.thing" id="thing_bad">
            <field name="no_such_field">x</field>
        </record>
"""
BROKEN_GETTER = """    broken = fields.Function(fields.Char("Broken"), "get_broken")

    def get_broken(self, name):
        raise ValueError("the getter of broken fails")
"""
MARK_THEN_SLEEP = """        with open(os.environ["OPS_SUF_MARKER"], "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(120)
"""

FAILING_MIGRATION = '        raise ValueError("migration failed")\n'

# (thing.py extra, thing.xml extra) of each change
CHANGES = {
    "good": (CODE, ""),
    "xml": (CODE, BAD_RECORD),
    "migration": (CODE + MIGRATION.format(body=FAILING_MIGRATION), ""),
    "smoke": (CODE + BROKEN_GETTER, ""),
    "slow": (CODE + MIGRATION.format(body=MARK_THEN_SLEEP), ""),
}


def write_suf(package: Path, change: str | None) -> None:
    thing, xml = CHANGES[change] if change else ("", "")
    (package / "tryton.cfg").write_text(CFG)
    (package / "view").mkdir(exist_ok=True)
    (package / "view" / "thing_form.xml").write_text(VIEW)
    (package / "thing.xml").write_text(XML.format(extra=xml))
    (package / "thing.py").write_text(THING.format(extra=thing))
    (package / "__init__.py").write_text("from . import thing\n\n__all__ = ['thing']\n")


@pytest.fixture(scope="module")
def suf_templates(tmp_path_factory):
    """The template cache shared by this file's tests: the first `suf` of each backend is
    built by trytond-admin, the next ones are copies."""
    return tmp_path_factory.mktemp("suf-templates")


@pytest.fixture
def suf(request, db_backend, tmp_path, monkeypatch, suf_templates):
    """A database `suf` with ops_suf activated, on `db_backend`; returns (config, package)."""
    root = tmp_path / "modules"
    package = write_module(root, "ops_suf", ["ir"])
    write_suf(package, None)
    use_modules(monkeypatch, root)
    monkeypatch.setenv("OPS_SUF_MARKER", str(tmp_path / "marker"))
    monkeypatch.delenv("TRYTON_ADMIN_PASSWORD", raising=False)
    password = tmp_path / "pw"
    password.write_text(ADMIN_PASSWORD + "\n")
    uri = "sqlite://" if db_backend == "sqlite" else request.getfixturevalue("postgres_server").uri
    values = {"uri": uri, "name": "suf", "modules": ["ops_suf"],
              "admin_password_file": str(password)}  # fmt: skip
    paths = {"templates": str(suf_templates)}
    config = make_config(tmp_path / "deploy", {"database": values, "paths": paths})
    init_database(config, "suf")
    request.addfinalizer(lambda: _drop_all(config))
    return config, package


def _drop_all(config) -> None:
    """The PostgreSQL server is shared by the session: leave no database of the test behind
    (the template of ops_suf stays for the next test; its name is this file's own)."""
    from tryton_ops.access.database import list_databases
    from tryton_ops.lifecycle.database import drop_database

    for name in list_databases(config):
        if name == "suf" or name.startswith("ops_rehearse_"):
            drop_database(config, name)


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


def _leftovers(config) -> list[str]:
    from tryton_ops.access.database import list_databases

    rehearsals = [n for n in list_databases(config) if n.startswith("ops_rehearse_")]
    flags = list((config.run_dir / "maintenance").glob("*"))
    return (
        rehearsals
        + [str(f) for f in flags]
        + [str(journal.journal_file(config, "suf"))] * (journal.read(config, "suf") is not None)
    )


def _archives(config) -> list[Path]:
    folder = backups_dir(config)
    return sorted(folder.glob("suf-*.tar.gz")) if folder.is_dir() else []


FAILURES = {
    "sqlite": [("xml", "thing_bad"), ("smoke", "the getter of broken fails")],
    "postgresql": [("migration", "migration failed"), ("slow", "did not finish within 10 s")],
}


@pytest.mark.one_series  # rehearsal, smoke check and restore are ours: the same on every series
def test_failed_updates_change_nothing(suf, tryton_stack):
    config, package = suf
    stack = tryton_stack(TestDatabase(config, "suf"), workers=1)
    config = stack.config
    conn = stack.connect()
    assert conn.call("model.ops.suf.thing.search_count", [], {}) == 1
    before = table_checksums(config, "suf")

    # --rehearse-only: the good change passes on a copy; nothing live changes
    write_suf(package, "good")
    rehearsed = _json(cli(config, "db", "update", "-d", "suf", "--rehearse-only", "--json"))
    assert rehearsed["applied"] is False and rehearsed["backup"] is None
    assert rehearsed["rehearsal"]["modules"] == ["ops_suf"]
    assert rehearsed["rehearsal"]["failure"] is None
    assert rehearsed["rehearsal"]["smoke_checks"] >= 2  # the form view and the read
    assert rehearsed["rehearsal"]["seconds"] > 0
    assert table_checksums(config, "suf") == before
    assert _leftovers(config) == [] and _archives(config) == []

    # an error in the XML data, caught by the rehearsal: no backup, no maintenance
    write_suf(package, "xml")
    caught = cli(config, "db", "update", "-d", "suf")
    assert caught.exit_code == 1
    assert "the rehearsal on a copy of 'suf' failed" in caught.output
    assert "thing_bad" in caught.output and "nothing live was touched" in caught.output
    assert table_checksums(config, "suf") == before
    assert _leftovers(config) == [] and _archives(config) == []

    # the same failures reaching the live database: each one restored (two kinds per
    # backend, to keep the test short: the way back differs by backend, not by failure)
    for change, expected in FAILURES[config.settings.database.backend]:
        before = table_checksums(config, "suf")  # the last call may have touched its session
        write_suf(package, change)
        args = ["db", "update", "-d", "suf", "--no-rehearse", "--timeout", "10"]
        result = cli(config, *args)
        assert result.exit_code == 1, (change, result.output)
        assert expected in result.output, (change, result.output)
        assert "restored from the backup taken just before: nothing changed" in result.output
        assert table_checksums(config, "suf") == before, change
        assert _leftovers(config) == [], change
        assert conn.call("model.ops.suf.thing.search_count", [], {}) == 1, change
    assert len(_archives(config)) == 2  # each attempt's backup is kept


@pytest.mark.one_series  # the journal, watchdog and maintenance are ours: the same on every series
def test_killed_update_is_recovered(suf):
    """SIGKILL during the live update: the trytond-admin it ran dies with it and its watchdog
    restores the database and switches maintenance off; with the watchdog killed too (a power
    loss), `db update --recover` does."""
    config, package = suf
    before = table_checksums(config, "suf")
    write_suf(package, "slow")
    toml = write_toml(config, config.data_dir.parent / "tryton-ops.toml")
    flag = config.run_dir / "maintenance" / "suf"

    _kill_during_update(toml, config, with_watchdog=False)
    deadline = time.monotonic() + 60
    while journal.read(config, "suf") is not None or flag.exists():
        assert time.monotonic() < deadline, "the watchdog did not recover"
        time.sleep(0.2)
    assert table_checksums(config, "suf") == before
    log = journal.journal_file(config, "suf").with_suffix(".watchdog.log").read_text()
    assert "died: restored suf from " in log

    _kill_during_update(toml, config, with_watchdog=True)
    assert flag.exists() and journal.read(config, "suf").stage == "applying"
    recovered = _json(cli(config, "db", "update", "-d", "suf", "--recover", "--json"))
    assert recovered["recovered"].startswith("restored suf from ")
    assert table_checksums(config, "suf") == before
    assert not flag.exists() and journal.read(config, "suf") is None
    again = _json(cli(config, "db", "update", "-d", "suf", "--recover", "--json"))
    assert again["recovered"] is None


def _kill_during_update(toml: Path, config, with_watchdog: bool) -> None:
    """Start `db update` in its own process, SIGKILL it once the migration runs."""
    marker = Path(os.environ["OPS_SUF_MARKER"])
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tryton_ops", "-c", str(toml), "db", "update", "-d", "suf",
         "--no-rehearse"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    admin_pid = int(marker.read_text())
    entry = journal.read(config, "suf")
    assert entry.stage == "applying" and entry.watchdog
    assert (config.run_dir / "maintenance" / "suf").exists()
    if with_watchdog:
        os.kill(entry.watchdog, signal.SIGKILL)
        _wait_gone(entry.watchdog)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_gone(admin_pid)  # died with its parent: nothing keeps writing


def _wait_gone(pid: int) -> None:
    """Until `pid` has ended (a zombie its busy parent has not reaped counts as ended)."""
    import psutil

    deadline = time.monotonic() + 10
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        assert time.monotonic() < deadline, f"process {pid} outlived its parent"
        time.sleep(0.1)


@pytest.mark.one_series  # the journal, watchdog and maintenance are ours: the same on every series
def test_update_under_load_fails_no_call(suf, tryton_stack):
    """Clients calling all along through nginx: only maintenance answers (503 with
    Retry-After) while the update is applied, never an error."""
    config, package = suf
    front = {"enabled": "on", "rpc_rate_per_second": 200}  # one client address for all
    stack = tryton_stack(TestDatabase(config, "suf"), workers=2, front=front)
    config = stack.config
    counts = {"ok": 0, "maintenance": 0, "failed": 0}
    failures: list[str] = []
    retry_after: set[str] = set()
    window: list[float] = []
    stop = threading.Event()

    def load() -> None:
        conn = stack.connect()
        while not stop.is_set():
            try:
                conn.call("model.ops.suf.thing.search_count", [], {})
                counts["ok"] += 1
            except Exception as exc:  # every failure is counted
                if isinstance(exc, TransportError) and exc.status == 503:
                    counts["maintenance"] += 1
                    window.append(time.monotonic())
                else:
                    counts["failed"] += 1
                    failures.append(repr(exc))
            time.sleep(0.02)  # a steady load, below nginx's per-client rate limit

    def probe() -> None:
        """What a maintenance answer carries (the load's client only sees the status)."""
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                response = client.post(stack.url + "suf/", json={"method": "x", "params": []})
                if response.status_code == 503:
                    retry_after.add(response.headers.get("retry-after", ""))
                time.sleep(0.1)

    threads = [threading.Thread(target=load) for _ in range(2)] + [threading.Thread(target=probe)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        write_suf(package, "good")
        # the rehearsal is left out: the first test covers it, and this one is about the apply
        args = ("db", "update", "-d", "suf", "--no-rehearse", "--no-backup", "--json")
        done = _json(cli(config, *args))
        after = counts["ok"]
        deadline = time.monotonic() + 60
        while counts["ok"] < after + 10 and time.monotonic() < deadline:
            time.sleep(0.1)  # the load goes on, answered by the new workers
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert done["applied"] and done["rehearsal"] is None
    assert done["smoke_checks"] >= 2 and done["backup"] is None
    assert done["workers"] == "local stack reloaded gracefully"
    assert _archives(config) == [] and _leftovers(config) == []  # the way back was not kept
    assert stack.connect().call(
        "model.ops.suf.thing.search_read", [], 0, None, None, ["code"], {}
    ) == [{"id": 1, "code": None}]  # fmt: skip
    assert counts["failed"] == 0, failures[:5]
    assert counts["ok"] >= after + 10 and counts["maintenance"] > 0, counts
    assert retry_after == {"10"}
    # answered by nginx itself (no upstream), whose workers could see the flag: as root, `up`
    # runs them as the run directory's owner, not nobody (who made the check fail open)
    logs = config.run_dir / "logs"
    answered = (logs / "nginx-access.log").read_text().splitlines()
    assert any('" 503 ' in line and "upstream=- " in line for line in answered)
    assert "Permission denied" not in (logs / "nginx-error.log").read_text()
    seen = window[-1] - window[0]
    print(
        f"\n[{config.settings.database.backend}] update under load: {counts['ok']} calls ok, "
        f"{counts['maintenance']} maintenance answers over {seen:.1f} s (maintenance reported "
        f"{done['maintenance_seconds']:.1f} s), 0 failed"
    )
    assert seen <= done["maintenance_seconds"] + 1
