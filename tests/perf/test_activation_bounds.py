"""Full capture is bounded in time (`[perf] max_capture`), checked before anything is stored,
by the CLI and the `ops.perf` RPC alike; a stored activation out of range never breaks listing."""

from __future__ import annotations

import json
import time

import pytest

from tryton_ops.client import ServerError
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import open_store
from tryton_ops.testing.databases import derive

from .helpers import run_cli
from .test_stack import PERF

pytestmark = pytest.mark.one_series  # our validation of activations: the same on every series


def listed(config, tmp_path) -> list[dict]:
    result = run_cli(config, tmp_path, "perf", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_capture_duration_is_bounded(make_trytond_db, tryton_stack, tmp_path):
    database = make_trytond_db("sqlite", ("party", "ops_perf"))
    stack = tryton_stack(database, workers=1, perf=PERF)
    config = stack.config

    huge = run_cli(config, tmp_path, "perf", "enable", "--user", "admin", "--for", "100000000d")
    assert huge.exit_code == 2, huge.output
    assert huge.output.startswith("error: ") and "perf.max_capture (7d)" in huge.output
    assert "Traceback" not in huge.output
    assert listed(config, tmp_path) == []  # validated before storing
    week = run_cli(config, tmp_path, "perf", "enable", "--user", "admin", "--for", "7d")
    assert week.exit_code == 0, week.output
    assert [e["login"] for e in listed(config, tmp_path)] == ["admin"]

    # configurable: a deployment allowing one hour at most
    short = derive(config, {"perf": {**PERF, "max_capture": "1h"}})
    refused = run_cli(short, tmp_path, "perf", "enable", "--user", "admin", "--for", "2h")
    assert refused.exit_code == 2 and "perf.max_capture (1h)" in refused.output

    admin = stack.connect()
    with pytest.raises(ServerError) as rpc_refused:
        admin.call("model.ops.perf.enable", "admin", "100000000d", {})
    assert "perf.max_capture" in str(rpc_refused.value)
    admin.call("model.ops.perf.disable", "admin", {})
    assert admin.call("model.ops.perf.list_active", {}) == []

    # an activation stored out of range (by an older version, or by hand): listed as such
    options = PerfOptions.from_config(config)
    now = time.time()
    stored = {"db": database.name, "uid": admin.user_id, "login": "admin", "since": now}
    for until in (now + 10**13, "soon"):
        store = open_store(options)
        store.update_active(lambda entries, until=until: [{**stored, "until": until}])
        text = run_cli(config, tmp_path, "perf", "list")
        assert text.exit_code == 0, text.output
        assert "out of range" in text.output and "perf disable" in text.output
        [entry] = listed(config, tmp_path)
        assert entry["out_of_range"] is True
        [entry] = admin.call("model.ops.perf.list_active", {})
        assert entry["out_of_range"] is True
    gone = run_cli(config, tmp_path, "perf", "disable", "--user", "admin")
    assert gone.exit_code == 0 and "stopped" in gone.output
    assert listed(config, tmp_path) == []
