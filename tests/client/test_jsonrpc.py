"""The small JSON-RPC connection against a real server: results, errors, transport failures."""

from __future__ import annotations

import pytest

from tryton_ops.client import Connection, ServerError, TransportError
from tryton_ops.testing.processes import free_port


def test_login_call_and_user_error(stack):
    with stack.connect() as conn:
        assert conn.user_id > 0
        prefs = conn.call("model.res.user.get_preferences", False, {})
        assert prefs["language"] == "en"
        with pytest.raises(ServerError) as info:
            conn.call("model.party.party.create", [{"name": "x", "nosuch": 1}], {})
        assert info.value.kind
        conn.logout()
        assert conn.session is None


def test_wrong_password_is_refused(stack):
    with Connection(stack.url, stack.database.name) as conn:
        with pytest.raises(TransportError) as info:
            conn.login("admin", "wrong password")
        assert info.value.status == 401


def test_connection_refused_is_a_transport_error():
    conn = Connection(f"http://127.0.0.1:{free_port()}", "x", timeout=2)
    with conn, pytest.raises(TransportError, match="ConnectError"):
        conn.call("common.server.version")
