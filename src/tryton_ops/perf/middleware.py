"""RPC capture: the `[wsgi middleware]` factory `PerfMiddleware`.

Around each request it opens a `Collector` (the SQL hook reports into it), and when the
response body has been sent it queues one summary record. Everything about the call is read
from `environ['werkzeug.request'].__dict__` *after* trytond handled it: the cached values
trytond computed itself (`rpc_method`, `user_id`, `session`, `rpc_params`; XML-RPC caches only
`parsed_data`). Properties are never evaluated here, since `request.user_id` can open a database
transaction. A call is attributed to a user (`uid`, `login`) only once trytond verified it: what
a refused request claims is never recorded as its user.

The `RPC-Method` response header lets a front (nginx) log the called method.
Any error of the analyzer is counted and the request goes on untouched.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import os
import re
import time
from threading import get_ident
from time import perf_counter

from tryton_ops.perf import metrics, profiler
from tryton_ops.perf.collector import Collector, current
from tryton_ops.perf.guard import errors
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.records import session_id
from tryton_ops.perf.store import open_store
from tryton_ops.perf.writer import HOST, Writer

HEADER = "RPC-Method"
_HEADER_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_REST_NAME = re.compile(r"[A-Za-z0-9_.]{1,100}")
MAX_FP_BODY = 64 * 1024

_ids = itertools.count(1)


def _method_header(method: str) -> str:
    return _HEADER_SAFE.sub("_", method)[:200]


def _claimed_uid(environ) -> int | None:
    """The user id a request *claims* (Session auth or cookie); verified later by trytond."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:8].lower() == "session ":
        try:
            decoded = base64.b64decode(auth[8:].strip()).decode("utf-8", "replace")
            return int(decoded.split(":", 2)[1])
        except (ValueError, IndexError, binascii.Error):
            return None
    cookie = environ.get("HTTP_COOKIE", "")
    if "tryton_session=" in cookie:
        # value: base64 of "username:userid:token" (trytond's encode_session_cookie)
        value = cookie.split("tryton_session=", 1)[1].split(";", 1)[0].strip().strip('"')
        try:
            padded = value + "=" * (-len(value) % 4)
            decoded = base64.urlsafe_b64decode(padded).decode("utf-8", "replace")
            return int(decoded.split(":", 2)[1])
        except (ValueError, IndexError, binascii.Error):
            return None
    return None


def _database(environ) -> str | None:
    path = environ.get("PATH_INFO", "")
    parts = path.strip("/").split("/", 1)
    return parts[0] if len(parts) == 2 and parts[0] else None


class _Body:
    """The response iterable, counted; the record is queued when the server closes it."""

    __slots__ = ("_done", "_inner", "size")

    def __init__(self, inner, done):
        self._inner = inner
        self._done = done
        self.size = 0

    def __iter__(self):
        for chunk in self._inner:
            self.size += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._done(self.size)


class PerfMiddleware:
    """WSGI middleware; trytond calls it as `PerfMiddleware(app.wsgi_app)`."""

    def __init__(self, app, options: PerfOptions | None = None):
        self.app = app
        self.options = options or PerfOptions.from_trytond()
        self.writer = Writer(self.options)
        self._metrics_store = None
        _register_error_handler()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == metrics.PATH:
            return self._serve_metrics(environ, start_response)
        try:
            state = self._begin(environ)
        except Exception:
            errors.record("middleware begin")
            return self.app(environ, start_response)
        status_box = [0]

        def start(status, headers, exc_info=None):
            try:
                status_box[0] = int(status[:3])
                method = _rpc_call(environ)[0]  # REST: nginx logs the path already
                if method:
                    headers.append((HEADER, _method_header(method)))
            except Exception:
                errors.record("start_response")
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        collector = state[0]
        token = current.set(collector)
        sampling = self._start_profile() if state[3] else None
        try:
            result = self.app(environ, start)
        except BaseException:
            current.reset(token)
            self._stop_profile(collector, sampling)
            self._end(environ, state, 500, 0)
            raise
        current.reset(token)
        self._stop_profile(collector, sampling)
        try:
            if _rpc_call(environ)[0] is None and state[4] is None:
                return result  # not a call (static file...): keep the server's fast paths
            return _Body(result, lambda size: self._end(environ, state, status_box[0], size))
        except Exception:
            errors.record("middleware wrap")
            return result

    def _begin(self, environ):
        writer = self.writer
        writer.ensure_started()
        options = self.options
        rest = rest_method(environ)
        full = False
        claimed = None
        collector = Collector(
            slow_sql_ms=options.slow_sql_ms,
            stack_ms=options.stack_ms,
            max_statements=options.max_statements,
        )
        if rest is not None:
            # no session claims a user: the key's user is known once trytond verified it
            collector.track_user = True
            if writer.active:
                verified = functools.partial(self._rest_verified, _database(environ), get_ident())
                collector.on_user = verified
        elif writer.active:
            claimed = _claimed_uid(environ)
            database = _database(environ)
            full = database is not None and writer.is_active(database, claimed)
        collector.full = full
        profile = full and options.profile
        return collector, time.time(), claimed, profile, rest

    def _rest_verified(self, database, thread: int, collector: Collector, uid: int) -> None:
        """trytond verified a REST call's key (its transaction now runs as `uid`).

        Full capture starts here if `uid` is enabled: the key check before is not the user's
        work. The profiler starts here too, in the request's thread only (pyinstrument must
        be stopped in the thread that started it; the middleware stops it there).
        """
        if database is None or not self.writer.is_active(database, uid):
            return
        collector.start_full(uid)
        if self.options.profile and get_ident() == thread:
            collector.sampling = self._start_profile()

    def _start_profile(self):
        try:
            return profiler.start(self.options.profile_interval_ms)
        except Exception:  # e.g. another profiler already runs in this thread
            errors.record("profiler")
            return None

    @staticmethod
    def _stop_profile(collector, sampling) -> None:
        """Stop the call's profiler: started up front, or at a REST call's verification."""
        collector.on_user = None  # trytond is done: nothing may start a profiler any more
        if sampling is None:
            sampling, collector.sampling = collector.sampling, None
            if sampling is None:
                return
        try:
            collector.profile = profiler.stop(sampling)
        except Exception:
            errors.record("profiler")

    def _serve_metrics(self, environ, start_response):
        """GET /-/perf/metrics: the store's totals (token or allowed network)."""
        status, reason = metrics.access(environ, self.options)
        if status != 200:
            headers = [("Content-Type", "text/plain; charset=utf-8")]
            if status == 401:
                headers.append(("WWW-Authenticate", 'Bearer realm="tryton-ops metrics"'))
            start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", headers)
            return [f"{reason}\n".encode()]
        try:
            if self._metrics_store is None:
                self._metrics_store = open_store(self.options)
            body = metrics.render(self._metrics_store.load_metrics()).encode()
        except Exception as exc:
            self._metrics_store = None
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [f"perf store unavailable: {type(exc).__name__}\n".encode()]
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE)])
        return [body]

    def _end(self, environ, state, status: int, size: int) -> None:
        try:
            collector, wall, claimed, _profile, rest = state
            request = environ.get("werkzeug.request")
            values = getattr(request, "__dict__", {}) if request is not None else {}
            method, params = _rpc_call(environ)
            if method is None:
                method = rest
                if method is None:
                    return
            duration = perf_counter() - collector.started
            if rest is not None:  # verified mid-call: the user who switched full capture on
                uid, claimed = collector.user, collector.full_uid
            else:
                uid = values.get("user_id")
            uid = uid if isinstance(uid, int) and not isinstance(uid, bool) else None
            session = values.get("session")
            # REST: a key names no login (Basic's user name is not checked): uid only
            login = _verified_login(values, uid, method, params, status) if rest is None else None
            token = getattr(session, "token", None) if rest is None else _rest_key(environ)
            full = collector.full and uid is not None and uid == claimed
            collector.full = full  # a claim the server did not verify gets no full capture
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            raw = {
                "id": f"{int(wall * 1000):x}-{os.getpid():x}-{next(_ids):x}",
                "ts": round(wall, 6),
                "db": _database(environ),
                "uid": uid,
                "login": login,
                "session": session_id(token) if isinstance(token, str) else None,
                "method": printable(method),
                "duration_ms": round(duration * 1000, 3),
                "status": status,
                "error": collector.error,
                "sql_count": collector.sql_count,
                "sql_ms": round(collector.sql_time * 1000, 3),
                "transactions": collector.transactions,
                "request_bytes": length,
                "response_bytes": size,
                "pid": os.getpid(),
                "host": HOST,
                "full": full,
                "_collector": collector,
                "_params": params if length <= MAX_FP_BODY else None,
            }
            if full and rest is not None:  # the key check, counted but not detailed
                raw["statements_before_key"] = collector.before_full
            self.writer.submit(raw)
        except Exception:
            errors.record("middleware end")


REST_VERBS = {
    (False, "GET"): "search",
    (False, "POST"): "create",
    (True, "GET"): "read",
    (True, "PUT"): "write",
    (True, "DELETE"): "delete",
}


def rest_method(environ) -> str | None:
    """`rest.model.party.party.search`... for trytond's REST routes (`/<db>/rest/...`)."""
    path = environ.get("PATH_INFO", "")
    if "/rest/" not in path:
        return None
    parts = path.strip("/").split("/")
    if len(parts) < 4 or parts[1] != "rest" or not _REST_NAME.fullmatch(parts[3]):
        return None
    kind, name, tail = parts[2], parts[3], parts[4:]
    if kind == "report":
        return f"rest.report.{name}"
    if kind != "model":
        return None
    verb = environ.get("REQUEST_METHOD", "GET")
    if tail and not tail[0].isdigit():
        action = tail[0]  # POST /model/<name>/<action>
    elif len(tail) >= 2:
        action = tail[1]  # POST /model/<name>/<id>/<action>
    else:
        action = REST_VERBS.get((bool(tail), verb), verb.lower())
    if not _REST_NAME.fullmatch(action):
        return None
    return f"rest.model.{name}.{action}"


def _rest_key(environ) -> str | None:
    """The application key of a REST call (bearer, or Basic's password): only ever hashed."""
    scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode("utf-8", "replace")
        except (ValueError, binascii.Error):
            return None
        return decoded.partition(":")[2] or None
    return None


def _rpc_call(environ) -> tuple[str | None, object]:
    """The RPC method and parameters trytond parsed, or (None, None) for other requests.

    JSON-RPC caches `rpc_method` and `rpc_params`; XML-RPC's are plain properties over the
    cached `parsed_data`, a `(params, method)` pair (xmlrpc.client.loads).
    """
    request = environ.get("werkzeug.request")
    if request is None:
        return None, None
    values = request.__dict__
    method = values.get("rpc_method")
    if isinstance(method, str):
        return method, values.get("rpc_params")
    parsed = values.get("parsed_data")
    if (
        getattr(type(request), "parsed_content_type", None) == "xml"
        and isinstance(parsed, tuple)
        and len(parsed) == 2
        and isinstance(parsed[1], str)
    ):
        return parsed[1], parsed[0]
    return None, None


def printable(text: str) -> str:
    """`text` as UTF-8 can carry it: a lone surrogate sent in JSON becomes `\\udXXX`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _verified_login(values: dict, uid: int | None, method: str, params, status: int):
    """The login of a call trytond accepted; None for anything it refused or did not check.

    A session names its login, but trytond only verifies the user id and key: the login is
    kept when they were verified (`uid` is the session's user). A password login names it in
    its first parameter and is verified when it succeeded (HTTP 200: a refusal is a 401/429).
    """
    login = None
    if method == "common.db.login":
        if status == 200 and isinstance(params, list | tuple) and params:
            login = params[0]
    elif uid is not None:
        session = values.get("session")
        if session is not None:
            login = session.username if getattr(session, "userid", None) == uid else None
        else:  # HTTP basic auth: trytond checked this user's password
            login = getattr(values.get("authorization"), "username", None)
    return printable(login) if isinstance(login, str) else None


_registered = False


def _on_exception(app, request, exc):
    """trytond error handler: note the exception class of the call; never alters the response."""
    try:
        collector = current.get()
        if collector is not None:
            collector.on_exception(exc)
    except Exception:
        errors.record("error handler")
    return None


def _register_error_handler() -> None:
    """Learn which RPC calls raised (their JSON-RPC answer is still HTTP 200)."""
    global _registered
    if _registered:
        return
    try:
        import sys

        wsgi = sys.modules.get("trytond.wsgi")
        app = getattr(wsgi, "app", None)
        if app is not None and _on_exception not in app.error_handlers:
            app.error_handler(_on_exception)
            _registered = True
    except Exception:
        errors.record("register error handler")
