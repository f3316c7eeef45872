"""Full capture switched over RPC by an administrator (module ops_perf), sampling profiles and
their speedscope export; metrics refused outside the allowed networks."""

from __future__ import annotations

import base64
import json
import sys
import time

import httpx
import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from tryton_ops.client import Connection, ServerError
from tryton_ops.deploy.local_stack import server_url
from tryton_ops.perf import activation, profiler
from tryton_ops.perf.guard import errors
from tryton_ops.perf.middleware import PerfMiddleware
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.report import find_call

from .helpers import run_cli, wait_records
from .test_stack import ALICE_PASSWORD, create_alice

PERF = {"enabled": True, "flush_interval_ms": 100, "profile": True}


def check_speedscope(document: dict) -> None:
    """The structure speedscope's file-format schema requires (evented profiles)."""
    assert document["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = document["shared"]["frames"]
    assert frames and all(isinstance(f["name"], str) for f in frames)
    assert document["profiles"]
    for profile in document["profiles"]:
        assert profile["type"] == "evented" and profile["unit"] in ("seconds", "milliseconds")
        assert profile["startValue"] <= profile["endValue"]
        stack, last = [], profile["startValue"]
        for event in profile["events"]:
            assert 0 <= event["frame"] < len(frames)
            assert last <= event["at"] <= profile["endValue"]
            last = event["at"]
            if event["type"] == "O":
                stack.append(event["frame"])
            else:
                assert event["type"] == "C" and stack.pop() == event["frame"]
        assert stack == []


def test_admin_switches_capture_over_rpc_and_profiles_export(
    make_trytond_db, tryton_stack, tmp_path
):
    database = make_trytond_db("sqlite", ("party", "ops_perf"))
    stack = tryton_stack(database, workers=2, perf=PERF, front={"allowed_networks": ["10.0.0.0/8"]})
    # no token and localhost is not an allowed network: the metrics are refused
    assert httpx.get(f"{server_url(stack.config)}-/perf/metrics").status_code == 403

    admin = stack.connect()
    alice_id = create_alice(admin)
    alice = Connection(stack.url, database.name)
    alice.login("alice", ALICE_PASSWORD)
    for call in (
        ("model.ops.perf.enable", "alice", "30m"),
        ("model.ops.perf.disable", "alice"),
        ("model.ops.perf.list_active",),
    ):
        with pytest.raises(ServerError) as refused:  # a real non-admin session
            alice.call(*call, {})
        assert "administrators" in str(refused.value)
    for bad in (("alice", "soon"), ("nobody", "5m"), ("", "5m")):
        with pytest.raises(ServerError):
            admin.call("model.ops.perf.enable", *bad, {})
    assert admin.call("model.ops.perf.list_active", {}) == []

    entry = admin.call("model.ops.perf.enable", "alice", "10m", {})
    assert (entry["login"], entry["uid"], entry["db"]) == ("alice", alice_id, database.name)
    assert 590 < entry["until"] - entry["since"] <= 600
    [listed] = admin.call("model.ops.perf.list_active", {})
    assert listed["uid"] == alice_id
    # the same activation the CLI sees
    assert [e["login"] for e in activation.list_active(stack.config)] == ["alice"]

    def profiled(records):
        return [r for r in records if r.get("full") and r.get("profile")]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alice.call("model.party.party.search_read", [], 0, 10, None, ["name"], {})
        if profiled(wait_records(stack.config, lambda rs: True)):
            break
        time.sleep(0.1)
    records = wait_records(stack.config, lambda rs: bool(profiled(rs)))
    call = profiled(records)[0]
    assert call["uid"] == alice_id and call["statements"]
    assert call["caches"] and call["cache_hits"] == sum(h for h, _ in call["caches"].values())

    out = tmp_path / "profile.speedscope.json"
    export = ("perf", "export", "--speedscope")
    result = run_cli(stack.config, tmp_path, *export, call["id"], "-o", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    check_speedscope(document)
    assert any("trytond/" in (f.get("file") or "") for f in document["shared"]["frames"])
    shown = run_cli(stack.config, tmp_path, "perf", "show", call["id"])
    assert "perf export --speedscope" in shown.output and "cache_hits" in shown.output
    report = run_cli(stack.config, tmp_path, "perf", "report", "--user", "alice", "--json")
    methods = {m["method"]: m for m in json.loads(report.output)["methods"]}
    assert 0 < methods["model.party.party.search_read"]["cache_hit_pct"] <= 100

    summary = next(r for r in records if r["login"] == "admin" and r["method"].startswith("model."))
    refused = run_cli(stack.config, tmp_path, *export, summary["id"])
    assert refused.exit_code != 0 and "has no profile" in refused.output
    assert "Traceback" not in refused.output

    [stopped] = admin.call("model.ops.perf.disable", "alice", {})
    assert stopped["uid"] == alice_id
    assert admin.call("model.ops.perf.list_active", {}) == []


def trytond_like_app(environ, start_response):
    """Answers like trytond for an RPC of user 5: its request's cached method and user."""
    request = Request(environ)
    request.__dict__.update(rpc_method="model.party.party.read", user_id=5)
    return Response(b"[]", content_type="application/json")(environ, start_response)


def test_profile_without_pyinstrument_records_why(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "pyinstrument", None)  # import pyinstrument fails
    options = PerfOptions(directory=str(tmp_path), flush_interval_ms=50, profile=True)
    activation.enable_user(options, "db", 5, "alice", 60)
    middleware = PerfMiddleware(trytond_like_app, options)
    middleware.writer.ensure_started()
    deadline = time.monotonic() + 10
    while not middleware.writer.active and time.monotonic() < deadline:
        time.sleep(0.05)
    session = base64.b64encode(b"alice:5:key").decode()
    caplog.set_level("WARNING", logger="tryton_ops.perf")
    response = Client(middleware).post("/db/rpc/", headers={"Authorization": f"Session {session}"})
    assert response.get_data() == b"[]"
    response.close()  # the server closes the body: the record is queued then
    deadline = time.monotonic() + 10
    while middleware.writer.counters.written < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = find_call_all(options)
    assert record["full"] and "profile" not in record
    assert record["profile_error"] == profiler.MISSING
    assert any("pyinstrument is not installed" in r.getMessage() for r in caplog.records)
    assert find_call(options, record["id"])["profile_error"] == profiler.MISSING

    # a profiler that cannot start (another one runs in the thread...): the call goes on
    def broken(interval_ms):
        raise RuntimeError("profiler busy")

    monkeypatch.setattr(profiler, "start", broken)
    before = errors.count
    response = Client(middleware).post("/db/rpc/", headers={"Authorization": f"Session {session}"})
    assert response.get_data() == b"[]" and errors.count > before
    response.close()


def find_call_all(options: PerfOptions) -> list[dict]:
    from tryton_ops.perf.store import open_store

    return list(open_store(options).read())
