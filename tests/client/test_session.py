"""Sessions against a real server: login, context, hooks, logout, expiry and re-login, failures."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from tryton_ops.client import (
    Client,
    Forbidden,
    LoginFailed,
    SessionExpired,
    Timeout,
    TransportError,
)
from tryton_ops.testing.processes import free_port


def count_requests(session: Client) -> list[str]:
    """Bodies of the requests the session sends from now on (an httpx event hook)."""
    seen: list[str] = []
    session.transport.http.event_hooks["request"].append(
        lambda request: seen.append(request.content.decode(errors="replace"))
    )
    return seen


def test_login_context_hooks_and_logout(stack):
    events = []
    with Client(stack.url, stack.database.name) as session:
        session.on_start(lambda s: events.append(("start", s.user_id)))
        session.on_stop(lambda s: events.append(("stop", s.user_id)))
        uid = session.login("admin", stack.database.password)
        assert uid == session.user_id > 0
        assert session.context["language"] == "en"  # from the user's preferences
        assert session.context["groups"] is not None
        assert session._relogin is None  # the password is not kept by default
        assert session.model("res.user").read([uid], ["login"])[0]["login"] == "admin"
        token = session.auth
        session.logout()
        assert session.auth is None
    assert events == [("start", uid), ("stop", uid)]
    with Client(stack.url, stack.database.name) as stale:
        stale.auth = token  # the token of the session that logged out
        with pytest.raises(SessionExpired):
            stale.call("model.res.user.get_preferences", True, {})
        stale.auth = None


def test_wrong_password_and_unknown_method(stack):
    with Client(stack.url, stack.database.name) as session:
        with pytest.raises(LoginFailed) as info:
            session.login("admin", "wrong password")
        assert info.value.status == 401
        session.login("admin", stack.database.password)
        with pytest.raises(Forbidden, match="403"):
            session.call("model.party.party.no_such_method", [], {})


def _expire_on_server(stack, session: Client) -> None:
    """Delete the session on the server: what an administrator, max_age or a logout does."""
    other = Client(stack.url, stack.database.name)
    other.auth = session.auth
    other.logout()
    other.transport.close()


def test_expired_session_without_relogin_raises(stack, client):
    _expire_on_server(stack, client)
    with pytest.raises(SessionExpired, match="401"):
        client.model("party.party").search([])


def test_relogin_after_expiry(stack):
    with Client(stack.url, stack.database.name) as session:
        started = []
        session.on_start(lambda s: started.append(s.auth))
        session.login("admin", stack.database.password, relogin=True)
        first = session.auth
        _expire_on_server(stack, session)
        sent = count_requests(session)
        assert session.model("party.party").search_count([]) >= 0
        assert session.auth != first and session.auth.user_id == first.user_id
        assert sum('"common.db.login"' in body for body in sent) == 1
        assert started == [first]  # a re-login keeps the context, hooks ran once


def test_connection_refused_is_a_transport_error():
    session = Client(f"http://127.0.0.1:{free_port()}", "x", timeout=2, retries=1)
    with session, pytest.raises(TransportError, match="ConnectError"):
        session.call("common.server.version")


class Silent:
    """A TCP server that accepts connections and never answers: a hung server."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_timeouts_retry_only_safe_calls():
    server = Silent()
    try:
        with Client(f"http://127.0.0.1:{server.port}", "db", timeout=0.3, retries=2) as session:
            with pytest.raises(Timeout, match="ReadTimeout"):
                session.call("model.party.party.search_read", [], 0, 1, None, [], {})
            assert len(server.accepted) == 3  # read-only: sent again twice
            with pytest.raises(Timeout):
                session.call("model.party.party.write", [1], {"name": "x"}, {})
            assert len(server.accepted) == 4  # a write is never sent twice
    finally:
        server.close()


class Scripted:
    """An HTTP/1.1 server that answers each request as its script says: a status with a JSON-RPC
    result, or "drop" (close the connection without an answer: the race of a keep-alive
    connection the server closes as the request goes out)."""

    def __init__(self, script: list[int | str]):
        self.script = iter(script)
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        with conn, conn.makefile("rb") as stream:
            while head := [line for line in iter(stream.readline, b"\r\n") if line]:
                length = next(
                    int(line.split(b":")[1])
                    for line in head
                    if line.lower().startswith(b"content-length")
                )
                stream.read(length)
                self.requests += 1
                action = next(self.script)
                if action == "drop":
                    return
                body = b'{"id": 1, "result": 7}'
                conn.sendall(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (action, len(body), body)
                )

    def close(self):
        self.sock.close()


@pytest.mark.one_series
def test_error_answers_and_dropped_connections_have_their_own_retries():
    """A database in maintenance answered 503 twice, then the connection was dropped: a read
    is still answered (the CI failure of a read during `db update`); a write is never sent
    twice; each kind stops after `retries`."""
    cases = [
        ("search_count", [503, 503, "drop", 200], 7, 4),
        ("search_count", ["drop", "drop", 503, 503, 200], 7, 5),
        ("search_count", [503, 503, 503], "HTTP 503", 3),
        ("search_count", ["drop", 503, "drop", "drop"], "RemoteProtocolError", 4),
        ("write", ["drop"], "RemoteProtocolError", 1),
        ("write", [503], "HTTP 503", 1),
    ]
    for method, script, expected, requests in cases:
        server = Scripted(script)
        try:
            with Client(f"http://127.0.0.1:{server.port}", "db", timeout=5, retries=2) as session:
                if isinstance(expected, int):
                    assert session.call(f"model.party.party.{method}", [], {}) == expected
                else:
                    with pytest.raises(TransportError, match=expected):
                        session.call(f"model.party.party.{method}", [], {})
            assert server.requests == requests, (method, script)
        finally:
            server.close()


def test_imports_nothing_from_trytond():
    """A middleware installs the client without trytond: importing it must not pull trytond."""
    code = (
        "import sys, tryton_ops.client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'trytond'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
