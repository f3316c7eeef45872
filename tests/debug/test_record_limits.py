"""The record explorer is bounded: depth, records read and time, each an error saying what to
change (issue 17 item 4: `depth=10**9` once ran 60 s and 10,324 SQL statements)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.debug.helpers import batch, debug_db, ok
from tests.lifecycle.helpers import cli
from tryton_ops.client.errors import ServerError
from tryton_ops.testing.databases import derive

PARTY = """
party, = get('party.party').create([{
    'name': 'Many',
    'contact_mechanisms': [('create', [
        {'type': 'email', 'value': f'm{i}@example.com'} for i in range(4)])],
}])
party.id
"""


def with_debug(database, **options):
    config = derive(database.config, {"debug": {"eval": True, **options}})
    return dataclasses.replace(database, config=config)


def test_depth_records_and_time_are_bounded(make_trytond_db, db_backend):
    database = debug_db(make_trytond_db, db_backend, eval_enabled=True)
    (made,) = batch(database, ("eval", {"code": PARTY, "commit": True}))
    party = ok(made)["value"]
    record = {"model": "party.party", "id": party}

    deep, within = batch(database, ("record", {**record, "depth": 50}), ("record", record))
    assert not deep["ok"] and deep["type"] == "DebugError"
    assert "depth 50 is more than [debug] record_max_depth = 5" in deep["error"]
    assert len(ok(within)["fields"]["contact_mechanisms"]["records"]) == 4  # depth 1: fine

    (many,) = batch(with_debug(database, record_max_records=3), ("record", record))
    assert not many["ok"] and many["type"] == "DebugError"
    assert "more than [debug] record_max_records = 3 records" in many["error"]
    assert "--depth" in many["error"] and "--fields" in many["error"]

    (slow,) = batch(with_debug(database, record_timeout=0.000001), ("record", record))
    assert not slow["ok"] and "[debug] record_timeout = 1e-06 s" in slow["error"]


def test_rpc_and_cli_refuse_a_huge_depth(make_trytond_db, tryton_stack):
    database = debug_db(make_trytond_db, "sqlite")
    stack = tryton_stack(database, workers=1)
    admin = stack.connect()
    with pytest.raises(ServerError) as refused:
        admin.call(
            "model.ops.debug.record", {"model": "res.user", "id": admin.user_id, "depth": 10**9}, {}
        )
    assert "record_max_depth" in str(refused.value.detail)

    result = cli(database.config, "record", "res.user", "1", "--depth", str(10**9))
    assert result.exit_code == 1, result.output
    assert "error: depth 1000000000 is more than [debug] record_max_depth = 5" in result.output
