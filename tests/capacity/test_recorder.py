"""The recorder: every RPC call in a JSONL line, never a password, session key or header."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from tryton_ops.capacity.recorder import (
    MASK,
    Recorder,
    header_secrets,
    mask_text,
    scrub,
    trim,
)


def test_scrub_masks_values_under_secret_keys_at_any_depth():
    params = [
        "admin",
        {"password": "pw1", "device_cookie": None},
        [{"session": "s"}],
        {"name": "x"},
    ]
    assert scrub(params) == [
        "admin",
        {"password": MASK, "device_cookie": None},
        [{"session": MASK}],
        {"name": "x"},
    ]


def test_header_secrets_of_session_basic_and_cookie():
    session = base64.b64encode(b"admin:1:KEY-abc-123").decode()
    basic = base64.b64encode(b"admin:pass-word").decode()
    cookie = base64.urlsafe_b64encode(b"admin:1:COOKIE-key-9").decode()
    assert header_secrets({"HTTP_AUTHORIZATION": f"Session {session}"}) >= {"KEY-abc-123"}
    assert header_secrets({"HTTP_AUTHORIZATION": f"Basic {basic}"}) >= {"pass-word"}
    found = header_secrets({"HTTP_COOKIE": f"a=b; tryton_session={cookie}"})
    assert {cookie, "COOKIE-key-9"} <= found
    assert header_secrets({}) == set()


def test_mask_text_replaces_json_escaped_secrets():
    line = json.dumps({"x": 'he said "p@ss\\word" twice: p@ss\\word'})
    masked = mask_text(line, {"p@ss\\word"})
    assert "p@ss" not in masked and json.loads(masked)["x"].count(MASK) == 2


def test_trim_bounds_long_strings_and_lists():
    assert trim("a" * 5000) == {"__trimmed__": "str", "len": 5000}
    trimmed = trim(list(range(500)))
    assert len(trimmed) == 201 and trimmed[-1] == {"__trimmed__": "list", "len": 500}


def test_recorder_is_a_pass_through_when_off(monkeypatch):
    monkeypatch.delenv("TRYTON_RECORD", raising=False)
    app = object()
    recorder = Recorder(app)
    assert recorder.writer is None


@pytest.fixture
def recorded_stack(trytond_db, tryton_stack, tmp_path, monkeypatch):
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("TRYTON_RECORD", str(path))  # inherited by the app workers
    stack = tryton_stack(trytond_db, workers=2)
    return stack, path


def _lines(path, until=lambda records: True) -> list[dict]:
    """The recorded lines, once `until` holds: a worker writes a call's line after it has sent
    the response (when the server closes the body), so the client may look first."""
    deadline = time.monotonic() + 10
    while True:
        records = (
            [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        )
        if until(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def _has(method: str, count: int = 1):
    return lambda records: sum(r["method"] == method for r in records) >= count


def test_real_clients_are_recorded_without_secrets(recorded_stack, trytond_db):
    """JSON-RPC (our client, as sao), XML-RPC with a session (proteus) and with basic auth."""
    stack, path = recorded_stack
    password = trytond_db.password
    conn = stack.connect()
    session = conn.session
    parties = conn.call("model.party.party.search_read", [], 0, 2, None, ["name"], {})
    conn.call("model.res.user.get_preferences", True, {})

    from proteus import Model
    from proteus import config as pconfig

    with pconfig.set_xmlrpc_session(
        f"{stack.url.rstrip('/')}/{trytond_db.name}/rpc/", username="admin", password=password
    ) as xml_config:
        assert len(Model.get("party.party", config=xml_config).find([])) >= 0
    # HTTP basic auth: the password travels in the Authorization header of every call
    basic = base64.b64encode(f"admin:{password}".encode()).decode()
    body = (
        "<?xml version='1.0'?><methodCall><methodName>model.party.party.search_count"
        "</methodName><params><param><value><array><data/></array></value></param>"
        "<param><value><struct/></value></param></params></methodCall>"
    )
    reply = httpx.post(
        f"{stack.url.rstrip('/')}/{trytond_db.name}/rpc/",
        content=body,
        headers={"Content-Type": "text/xml", "Authorization": f"Basic {basic}"},
    )
    assert reply.status_code == 200

    records = _lines(path, _has("model.party.party.search_count"))
    text = path.read_text()
    for secret in (password, session, basic, base64.b64encode(f"admin:1:{session}".encode())):
        assert str(secret) not in text
    methods = [r["method"] for r in records]
    assert methods.count("common.db.login") == 2  # ours and proteus'
    login = next(r for r in records if r["method"] == "common.db.login")
    assert login["params"][1]["password"] == MASK and login["result"][1] == MASK
    search = next(r for r in records if r["method"] == "model.party.party.search_read")
    assert search["result"] == parties and search["auth"] == "session"
    assert search["params"][-1] == {} and search["duration_ms"] > 0
    xml = [r for r in records if r["protocol"] == "xml-rpc"]
    assert {r["auth"] for r in xml} >= {"session", "basic"}
    assert any(r["method"] == "model.party.party.search_count" for r in xml)
    assert {r["pid"] for r in records} <= set(stack.worker_pids())


def test_failed_calls_are_recorded_with_their_error(recorded_stack):
    stack, path = recorded_stack
    conn = stack.connect()
    with pytest.raises(Exception, match="exist"):
        conn.call("model.party.party.read", [999999], ["name"], {})
    records = _lines(path, _has("model.party.party.read"))
    (failed,) = [r for r in records if r["method"] == "model.party.party.read"]
    assert failed["error"] and "result" not in failed
