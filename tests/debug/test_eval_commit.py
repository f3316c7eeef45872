"""Evaluated code that calls `transaction.commit()` itself (issue 17 item 8): refused unless the
evaluation commits, so `committed` tells the truth, in process and over RPC."""

from __future__ import annotations

from tests.debug.helpers import batch, debug_db, ok

SNEAKY = "get('party.party').create([{{'name': {name!r}}}])\ntransaction.commit()\n'done'"
COUNT = "len(get('party.party').search([('name', '=', {name!r})]))"


def test_commit_from_code_is_refused_without_commit(make_trytond_db, db_backend):
    database = debug_db(make_trytond_db, db_backend, eval_enabled=True)
    refused, allowed, partial = batch(
        database,
        ("eval", {"code": SNEAKY.format(name="Sneaky")}),
        ("eval", {"code": SNEAKY.format(name="Asked"), "commit": True}),
        ("eval", {"code": SNEAKY.format(name="Half") + "\n1 / 0", "commit": True}),
    )
    refused = ok(refused)
    assert refused["committed"] is False
    assert refused["error"]["type"] == "tryton_ops.debug.evaluate.CommitRefused"
    assert "--commit" in refused["error"]["message"]
    assert ok(allowed)["committed"] is True and ok(allowed)["error"] is None
    partial = ok(partial)  # committed by the code, then failed: what was committed stays
    assert partial["error"]["type"] == "ZeroDivisionError" and partial["committed"] is True

    (counts,) = batch(
        database,
        (
            "eval",
            {"code": f"[{', '.join(COUNT.format(name=n) for n in ('Sneaky', 'Asked', 'Half'))}]"},
        ),
    )
    assert ok(counts)["value"] == [0, 1, 1]


def test_commit_from_code_over_rpc(make_trytond_db, tryton_stack):
    database = debug_db(make_trytond_db, "postgresql", eval_enabled=True)
    admin = tryton_stack(database, workers=1).connect()
    result = admin.call("model.ops.debug.eval", {"code": SNEAKY.format(name="Over RPC")}, {})
    assert result["committed"] is False and result["error"]["type"].endswith("CommitRefused")
    count = admin.call("model.ops.debug.eval", {"code": COUNT.format(name="Over RPC")}, {})
    assert count["value"] == 0
    history = admin.call("model.ops.debug.history", {"limit": 2}, {})
    assert history[1]["committed"] is False and "CommitRefused" in history[1]["error"]
