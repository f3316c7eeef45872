"""ops_debug over JSON-RPC on a real gunicorn stack: administrators only, eval guarded."""

from __future__ import annotations

import pytest

from tests.debug.helpers import batch, debug_db, ok
from tests.lifecycle.helpers import cli
from tryton_ops.client import Connection
from tryton_ops.client.errors import ServerError

PLAIN_PASSWORD = "Plain-Pass-2024!x"


def test_rpc_admin_only_and_eval(make_trytond_db, db_backend, tryton_stack, monkeypatch):
    database = debug_db(make_trytond_db, db_backend, eval_enabled=True)
    (made,) = batch(
        database,
        (
            "eval",
            {
                "code": "get('res.user').create([{'name': 'Plain', 'login': 'plain', "
                f"'password': {PLAIN_PASSWORD!r}}}])",
                "commit": True,
            },
        ),
    )
    assert ok(made)["committed"]
    stack = tryton_stack(database, workers=1)
    admin = stack.connect()

    field = admin.call("model.ops.debug.inspect", {"target": "party.party.name"}, {})
    assert field["kind"] == "field" and field["field"]["declared"][-1]["module"] == "party"

    def parties(name: str) -> list[int]:
        return admin.call("model.party.party.search", [("name", "=", name)], 0, None, None, {})

    code = "get('party.party').create([{'name': 'Over RPC'}])[0].id"
    rolled = admin.call("model.ops.debug.eval", {"code": code}, {})
    assert rolled["error"] is None and rolled["committed"] is False and rolled["value"] > 0
    assert parties("Over RPC") == []  # rolled back
    committed = admin.call("model.ops.debug.eval", {"code": code, "commit": True}, {})
    assert committed["committed"] is True
    assert parties("Over RPC") == [committed["value"]]
    failed = admin.call("model.ops.debug.eval", {"code": "undefined_name", "commit": True}, {})
    assert failed["committed"] is False and failed["error"]["type"] == "NameError"
    history = admin.call("model.ops.debug.history", {"limit": 5}, {})
    assert [h["committed"] for h in history[:3]] == [False, True, False]

    # a real non-admin login is refused by every method, eval included
    plain = Connection(stack.url, database.name)
    plain.login("plain", PLAIN_PASSWORD)
    for method, params in (("inspect", {"target": "party.party"}), ("eval", {"code": code})):
        with pytest.raises(ServerError) as refused:
            plain.call(f"model.ops.debug.{method}", params, {})
        assert "reserved to administrators" in str(refused.value.detail)
    assert parties("Over RPC") == [committed["value"]]  # nothing created by the refused eval

    # the CLI remotely (--url), with the admin password from the environment
    monkeypatch.setenv("TRYTON_PASSWORD", database.password)
    result = cli(stack.config, "inspect", "party.party.write", "--url", stack.url)
    assert result.exit_code == 0, result.output
    assert "trytond.model.modelsql.ModelSQL" in result.output
    result = cli(stack.config, "eval", "--url", stack.url, "6 * 7")
    assert result.exit_code == 0 and "42" in result.output, result.output
    result = cli(stack.config, "inspect", "party.partyy", "--url", stack.url)
    assert result.exit_code == 1 and "did you mean: party.party" in result.output
