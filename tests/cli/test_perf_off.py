"""`tryton-ops perf` with the analyzer off says so, and how to turn it on, instead of
"workers pick it up within seconds" and "0 calls"."""

from __future__ import annotations

import time

from tests.deploy.test_up_down import cli, write_config
from tryton_ops.config.loader import load_config
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import open_store

HOW = "`[perf] enabled = true` in tryton-ops.toml, then `tryton-ops reload`"


def test_perf_commands_with_the_analyzer_off(tmp_path, make_trytond_db):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db)

    enable = cli(config, "perf", "enable", "--user", "admin", "--for", "10m")
    assert enable.returncode == 1
    assert "error: nothing would be captured: the analyzer is off" in enable.stderr
    assert HOW in enable.stderr and "pick it up" not in enable.stdout
    listed = cli(config, "perf", "list")
    assert listed.returncode == 0 and listed.stdout.strip() == "none"  # nothing was stored
    assert f"note: the analyzer is off: the workers record no calls. Turn it on with {HOW}" in (
        listed.stderr
    )

    report = cli(config, "perf", "report")
    assert report.returncode == 1 and "0 calls" not in report.stdout
    assert "error: no calls recorded: the analyzer is off" in report.stderr and HOW in report.stderr
    show = cli(config, "perf", "show", "c0ffee")
    assert show.returncode == 1
    assert "no call 'c0ffee' in the perf store" in show.stderr and HOW in show.stderr

    # records from when it was on are still reported, with the note
    store = open_store(PerfOptions.from_config(load_config(config)))
    store.write([{"id": "old1", "db": db.name, "ts": time.time(), "method": "model.x.read"}])
    report = cli(config, "perf", "report")
    assert report.returncode == 0 and report.stdout.startswith("1 calls")
    assert "note: older records only; the analyzer is off" in report.stderr

    # on: the same commands act (a stack not yet reloaded picks it up on `reload`)
    on = {"TRYTON_OPS_PERF__ENABLED": "true"}
    enable = cli(config, "perf", "enable", "--user", "admin", "--for", "10m", env=on)
    assert enable.returncode == 0, enable.stderr
    assert "full capture of admin" in enable.stdout and enable.stderr == ""
