"""XML-RPC calls are recorded like JSON-RPC ones: proteus (Tryton's own client) on a real stack."""

from __future__ import annotations

import json
import xmlrpc.client

import pytest
from proteus import Model
from proteus import config as proteus_config

from .helpers import run_cli, wait_records
from .test_stack import ALICE_PASSWORD, PERF


def test_proteus_calls_are_recorded(trytond_db, tryton_stack, tmp_path):
    stack = tryton_stack(trytond_db, workers=2, perf=PERF)
    url = f"{stack.url}{trytond_db.name}/rpc/"
    with proteus_config.set_xmlrpc_session(url, username="admin", password=trytond_db.password):
        Party = Model.get("party.party")
        for index in range(3):
            Party(name=f"xml-{index}").save()
        assert len(Party.find([("name", "like", "xml-%")])) == 3
        User = Model.get("res.user")
        User(name="Alice", login="alice", password=ALICE_PASSWORD).save()
        with pytest.raises(xmlrpc.client.Fault):  # duplicate login: trytond's UserError
            User(name="Alice again", login="alice", password=ALICE_PASSWORD).save()

    records = wait_records(
        stack.config,
        lambda rs: (
            any(r["method"] == "common.db.logout" for r in rs)
            and any(r["method"] == "model.res.user.create" and r.get("error") for r in rs)
        ),
    )
    by_method: dict[str, list[dict]] = {}
    for record in records:
        by_method.setdefault(record["method"], []).append(record)
    [login] = by_method["common.db.login"]
    assert login["login"] == "admin" and login["status"] == 200 and login["fp"] is None
    assert login["session"] is None
    creates = by_method["model.party.party.create"]
    assert len(creates) == 3
    admin_id = creates[0]["uid"]
    assert isinstance(admin_id, int)
    for record in creates:
        assert (record["uid"], record["login"], record["db"]) == (
            admin_id,
            "admin",
            trytond_db.name,
        )
        assert record["session"] and record["status"] == 200 and record["error"] is None
        assert record["sql_count"] > 0 and record["tables"]["party_party"] >= 1
        assert record["fp"] and record["response_bytes"] > 0
        assert record["cache_hits"] + record["cache_misses"] > 0
    # same parameters except the name: different fingerprints, no value stored
    assert len({r["fp"] for r in creates}) == 3
    assert "xml-0" not in json.dumps(records)
    assert ALICE_PASSWORD not in json.dumps(records)
    [search] = by_method["model.party.party.search"]
    assert search["uid"] == admin_id and search["sql_count"] > 0
    failed = [r for r in by_method["model.res.user.create"] if r.get("error")]
    assert len(failed) == 1 and failed[0]["error"].endswith("Error")
    assert failed[0]["status"] == 200  # an XML-RPC fault is an HTTP 200 answer

    report = run_cli(stack.config, tmp_path, "perf", "report", "--user", "admin", "--json")
    assert report.exit_code == 0, report.output
    methods = {m["method"]: m for m in json.loads(report.output)["methods"]}
    assert methods["model.party.party.create"]["count"] == 3
    assert methods["model.res.user.create"]["errors"] == 1
