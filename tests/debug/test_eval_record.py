"""Evaluation, record explorer and PYSON in process, on both backends."""

from __future__ import annotations

import json

from tests.debug.helpers import batch, debug_db, ok
from tryton_ops.testing.databases import derive

SETUP = """
Party = get('party.party')
alice, = Party.create([{
    'name': 'Alice',
    'contact_mechanisms': [('create', [{'type': 'email', 'value': 'alice@example.com'}])],
}])
plain, = get('res.user').create([
    {'name': 'Plain', 'login': 'plain', 'password': 'Plain-Pass-2024!x'}])
# party.category becomes unreadable but for administrators
Access = get('ir.model.access')
from sql import Null
table = Access.__table__()  # XML records refuse ORM writes: plain SQL for the test setup
transaction.connection.cursor().execute(*table.update([table.perm_read], [False],
    where=(table.model == 'party.category') & (table.group == Null)))
if 'administrator' not in get('res.user')._fields:  # 8.0: administrators are a group
    Access.create([{'model': 'party.category', 'perm_read': True,
        'group': get('ir.model.data').get_id('res', 'group_admin')}])
secret, = get('party.category').create([{'name': 'Secret'}])
print('created', alice.id)
{'alice': alice.id, 'plain': plain.id, 'secret': secret.id}
"""

ROUND_TRIP = """
from trytond.pyson import PYSONEncoder
from tryton_ops.debug import pysonfmt
checked = failed = 0
for name, Model in pool.iterobject():
    for fname, field in Model._fields.items():
        for value in [*(field.states or {}).values(), getattr(field, 'domain', None)]:
            if not value or not pysonfmt.contains_pyson(value):
                continue
            checked += 1
            rebuilt = pysonfmt.build(pysonfmt.readable(value))
            if PYSONEncoder(sort_keys=True).encode(rebuilt) != PYSONEncoder(
                    sort_keys=True).encode(value):
                failed += 1
                print(name, fname, pysonfmt.readable(value))
[checked, failed]
"""


def test_eval_record_pyson(make_trytond_db, db_backend):
    database = debug_db(make_trytond_db, db_backend, eval_enabled=True)
    count = "len(get('party.party').search([('name', '=', {!r})]))"
    rolled, setup, zero, syntax, timeout, history = batch(
        database,
        (
            "eval",
            {"code": "get('party.party').create([{'name': 'Rolled'}])\n" + count.format("Rolled")},
        ),
        ("eval", {"code": SETUP, "commit": True, "filename": "setup.py"}),
        ("eval", {"code": "x = 1\n1 / (x - 1)", "commit": True}),
        ("eval", {"code": "def f(:\n  pass"}),
        ("eval", {"code": "while True:\n    pass", "timeout": 1}),
        ("history", {"limit": 10}),
    )
    rolled = ok(rolled)
    assert rolled["result"] == "1" and rolled["committed"] is False and rolled["error"] is None
    setup = ok(setup)
    assert setup["error"] is None and setup["committed"] is True, setup
    assert setup["output"].startswith("created ")
    ids = setup["value"]
    zero = ok(zero)
    assert zero["committed"] is False and zero["error"]["type"] == "ZeroDivisionError"
    assert "1 / (x - 1)" in zero["error"]["traceback"]
    assert not syntax["ok"] and "syntax error in <eval> line 1" in syntax["error"]
    timeout = ok(timeout)
    assert (
        timeout["error"]["type"] == "Timeout" and "stopped after 1 s" in timeout["error"]["message"]
    )
    rows = ok(history)
    assert [r["committed"] for r in rows[:2]] == [False, False]  # newest first: timeout, zero
    assert any(r["committed"] and "alice" in r["code"] for r in rows)

    # a new process: the rolled-back party is gone, the committed one is there
    (
        after,
        alice,
        shallow,
        denied,
        allowed,
        bad_field,
        missing,
        encoded,
        decoded,
        on_record,
        on_context,
        bad_pyson,
        round_trip,
    ) = batch(
        database,
        ("eval", {"code": f"[{count.format('Rolled')}, {count.format('Alice')}]"}),
        ("record", {"model": "party.party", "id": ids["alice"], "depth": 1}),
        (
            "record",
            {"model": "party.party", "id": ids["alice"], "depth": 0, "fields": ["name", "email"]},
        ),
        ("record", {"model": "party.category", "id": ids["secret"], "user": "plain"}),
        ("record", {"model": "party.category", "id": ids["secret"], "user": "admin"}),
        ("record", {"model": "party.party", "id": ids["alice"], "fields": ["emial"]}),
        ("record", {"model": "party.party", "id": 999999}),
        ("pyson", {"op": "encode", "text": "(Eval('state') != 'done') & ~Eval('active', True)"}),
        ("pyson", {"op": "decode", "text": '{"__class__": "Eval", "v": "name", "d": ""}'}),
        (
            "pyson",
            {
                "op": "eval",
                "text": "Eval('name') == 'Alice'",
                "model": "party.party",
                "id": ids["alice"],
            },
        ),
        (
            "pyson",
            {
                "op": "eval",
                "text": '{"__class__": "Greater", "s1": {"__class__": "Eval",'
                ' "v": "a", "d": 0}, "s2": 1, "e": false}',
                "context": {"a": 2},
            },
        ),
        ("pyson", {"op": "encode", "text": "Eval('state' =="}),
        ("eval", {"code": ROUND_TRIP}),
    )
    assert ok(after)["value"] == [0, 1]

    # function fields computed, relations followed one level
    alice = ok(alice)
    fields = alice["fields"]
    assert alice["rec_name"] == "Alice"
    assert fields["email"]["value"] == "alice@example.com"  # Function(getter=...)
    assert fields["full_name"]["value"] == "Alice"
    (mechanism,) = fields["contact_mechanisms"]["records"]
    assert mechanism["fields"]["value"]["value"] == "alice@example.com"
    assert mechanism["fields"]["party"]["value"] == ids["alice"]
    assert "records" not in mechanism["fields"]["party"]  # depth exhausted
    assert alice["states"]["code"]["readonly"]["value"] is True  # saved: code is read-only
    assert set(ok(shallow)["fields"]) == {"name", "email"}
    assert "records" not in ok(shallow)["fields"].get("contact_mechanisms", {})

    # access rights of the chosen user: plain may not read categories, admin may
    assert not denied["ok"] and "access denied" in denied["error"], denied
    assert ok(allowed)["rec_name"] == "Secret"
    assert not bad_field["ok"] and "did you mean: email" in bad_field["error"]
    assert not missing["ok"] and "no party.party record with id 999999" in missing["error"]

    encoded = ok(encoded)
    assert json.loads(encoded["json"])["__class__"] == "And"
    assert encoded["readable"] == "(Eval('state') != 'done') & ~Eval('active', True)"
    assert ok(decoded)["readable"] == "Eval('name')"
    assert ok(on_record)["value"] is True
    assert ok(on_context)["value"] is True and ok(on_context)["readable"] == "Eval('a', 0) > 1"
    assert not bad_pyson["ok"] and "invalid PYSON expression" in bad_pyson["error"]
    checked, failed = ok(round_trip)["value"]
    assert checked > 100 and failed == 0, ok(round_trip)["output"]

    # off unless [debug] eval = true
    disabled = derive(database.config, {"debug": {"eval": False}})
    (refused,) = batch(
        database.__class__(config=disabled, name=database.name), ("eval", {"code": "1"})
    )
    assert not refused["ok"] and "code evaluation is disabled" in refused["error"]
