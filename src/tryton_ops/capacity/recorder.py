"""Recording mode: the `[wsgi middleware]` factory `Recorder`, one JSONL line per RPC call.

Switched on by the environment variable `TRYTON_RECORD=<file>` of the trytond processes
(rendered into trytond.conf only when it is set, see `capacity.trytond_conf`). Each line holds
what a scenario needs to replay the call: method, params (their last element is the client's
context), the result (long strings and lists trimmed) or the error, HTTP status, timing.

Secrets never reach the file: headers are not written at all (Authorization, Cookie), values
under secret-looking keys become "***", the session key a login returns is masked, and any
password or session key this request carried is masked wherever it would still appear.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import gzip
import io
import json
import os
import re
import time
import xmlrpc.client
from typing import Any

ENV = "TRYTON_RECORD"  # not TRYTON_OPS_*: those set keys of tryton-ops.toml
MASK = "***"
LOGIN_METHOD = "common.db.login"
SECRET_KEY = re.compile(r"pass|secret|token|session|api_?key|^key$", re.IGNORECASE)
MAX_BODY = 16 * 1024 * 1024
MAX_STRING = 1000
MAX_LIST = 200


def scrub(value: Any) -> Any:
    """`value` with every item under a secret-looking key replaced by MASK."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and SECRET_KEY.search(k) else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def trim(value: Any) -> Any:
    """A bounded copy of a result: ids and names stay, view archs and long lists shrink."""
    if isinstance(value, str) and len(value) > MAX_STRING:
        return {"__trimmed__": "str", "len": len(value)}
    if isinstance(value, dict):
        return {k: trim(v) for k, v in value.items()}
    if isinstance(value, list):
        head = [trim(v) for v in value[:MAX_LIST]]
        if len(value) > MAX_LIST:
            head.append({"__trimmed__": "list", "len": len(value)})
        return head
    return value


def header_secrets(environ: dict) -> set[str]:
    """The session key or password the request's Authorization or Cookie header carries."""
    found = set()
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() in {"session", "basic"} and credentials:
        try:
            decoded = base64.b64decode(credentials.strip()).decode("utf-8", "replace")
        except (ValueError, binascii.Error):
            decoded = ""
        # "login:user_id:session" or "login:password": everything after the login is secret
        found.update(p for p in decoded.split(":")[1:] if len(p) > 3)
    elif credentials:
        found.add(credentials.strip())
    cookie = environ.get("HTTP_COOKIE", "")
    if "tryton_session=" in cookie:
        value = cookie.split("tryton_session=", 1)[1].split(";", 1)[0].strip().strip('"')
        found.add(value)
        try:
            padded = value + "=" * (-len(value) % 4)
            decoded = base64.urlsafe_b64decode(padded).decode("utf-8", "replace")
            found.update(p for p in decoded.split(":")[2:] if len(p) > 3)
        except (ValueError, binascii.Error):
            pass
    return found


def _auth_scheme(environ: dict) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth:
        return auth.split(" ", 1)[0].lower()
    return "cookie" if "tryton_session=" in environ.get("HTTP_COOKIE", "") else None


def _jsonable(value: Any) -> Any:
    """XML-RPC values in trytond's JSON form ({"__class__": ...}), like sao sends them."""
    from trytond.protocols.jsonrpc import JSONEncoder

    return json.loads(json.dumps(value, cls=JSONEncoder))


def decode_request(body: bytes, content_type: str) -> tuple[str, str, list] | None:
    """(protocol, method, params) of an RPC body; None for anything else."""
    try:
        if "xml" in content_type:
            params, method = xmlrpc.client.loads(body, use_builtin_types=True)
            return "xml-rpc", method, _jsonable(list(params))
        data = json.loads(body)
    except (ValueError, xmlrpc.client.ResponseError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("method"), str):
        return None
    return "json-rpc", data["method"], list(data.get("params") or [])


def decode_response(body: bytes, protocol: str) -> dict[str, Any]:
    """{"result": ...} or {"error": ...} of an RPC response body."""
    try:
        if protocol == "xml-rpc":
            (result,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
            return {"result": _jsonable(result)}
        data = json.loads(body)
    except xmlrpc.client.Fault as fault:
        return {"error": [fault.faultCode, fault.faultString]}
    except (ValueError, xmlrpc.client.ResponseError):
        return {"error": "undecodable response"}
    if isinstance(data, dict) and data.get("error") is not None:
        return {"error": data["error"]}
    return {"result": data.get("result") if isinstance(data, dict) else data}


def _maybe_gunzip(body: bytes, encoding: str | None) -> bytes:
    if encoding and "gzip" in encoding.lower():
        try:
            return gzip.decompress(body)
        except (OSError, EOFError):
            return body
    return body


def mask_text(text: str, secrets: set[str]) -> str:
    """`text` (a JSON line) with each secret replaced, longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(json.dumps(secret)[1:-1], MASK)
    return text


class _Writer:
    """Appends whole lines to the JSONL file; workers share it through an exclusive lock."""

    def __init__(self, path: str):
        self.path = path

    def write(self, record: dict[str, Any], secrets: set[str]) -> None:
        line = mask_text(json.dumps(record, ensure_ascii=False, default=str), secrets) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


class _Body:
    """The response iterable, kept; the call is recorded when the server closes it."""

    def __init__(self, inner, done):
        self._inner, self._done, self.chunks = inner, done, []

    def __iter__(self):
        for chunk in self._inner:
            self.chunks.append(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._done(b"".join(self.chunks))


class Recorder:
    """WSGI middleware: `Recorder(app.wsgi_app)`; passes through without TRYTON_RECORD."""

    def __init__(self, app, path: str | None = None):
        self.app = app
        path = path or os.environ.get(ENV)
        self.writer = _Writer(path) if path else None

    def __call__(self, environ, start_response):
        if self.writer is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not 0 < length <= MAX_BODY:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        call = decode_request(
            _maybe_gunzip(body, environ.get("HTTP_CONTENT_ENCODING")),
            environ.get("CONTENT_TYPE", ""),
        )
        if call is None:
            return self.app(environ, start_response)
        started, clock = time.time(), time.perf_counter()
        reply: dict[str, Any] = {}

        def start(status, headers, exc_info=None):
            reply["status"] = int(status[:3])
            reply["encoding"] = next(
                (v for k, v in headers if k.lower() == "content-encoding"), None
            )
            return start_response(status, headers, exc_info)

        def done(payload: bytes) -> None:
            duration = time.perf_counter() - clock
            self._record(environ, call, started, duration, reply, payload)

        return _Body(self.app(environ, start), done)

    def _record(self, environ, call, started, duration, reply, payload: bytes) -> None:
        protocol, method, params = call
        secrets = header_secrets(environ)
        outcome: dict[str, Any] = {}
        if reply.get("status") == 200:
            outcome = decode_response(_maybe_gunzip(payload, reply.get("encoding")), protocol)
        if method == LOGIN_METHOD:
            secrets.update(_login_secrets(params, outcome.get("result")))
            if isinstance(outcome.get("result"), list) and len(outcome["result"]) > 1:
                outcome["result"][1] = MASK
        record = {
            "ts": round(started, 6),
            "duration_ms": round(duration * 1000, 3),
            "pid": os.getpid(),
            "protocol": protocol,
            "path": environ.get("PATH_INFO", ""),
            "auth": _auth_scheme(environ),
            "status": reply.get("status"),
            "method": method,
            "params": scrub(params),
            **{k: trim(scrub(v)) for k, v in outcome.items()},
        }
        self.writer.write(record, secrets)


def _login_secrets(params: list, result: Any) -> set[str]:
    """The password a login call sends and the session key it gets back."""
    found = set()
    if len(params) > 1 and isinstance(params[1], dict):
        found.update(v for v in params[1].values() if isinstance(v, str) and v)
    if isinstance(result, list) and len(result) > 1 and isinstance(result[1], str):
        found.add(result[1])
    return found
