"""The console's WSGI middleware: `/ops/...` is answered here, everything else goes to trytond.

Order of the checks on every request: the client network (front.allowed_networks, after the
proxy headers trytond itself trusts, `[web] num_proxies`), then the session, verified by trytond
with the administrator check. Before login only the login page, its script and its style sheet
are served. State-changing calls are POSTs with a JSON body (a cross-site form cannot send one)
and the cookie is SameSite=Strict and HttpOnly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect, send_from_directory
from werkzeug.wrappers import Request, Response

from tryton_ops.console import auth, pages
from tryton_ops.console.options import ConsoleOptions
from tryton_ops.perf.metrics import network_access

logger = logging.getLogger(__name__)

PREFIX = "/ops"
STATIC = files("tryton_ops.console") / "static"
PUBLIC = ("login.js", "console.css")  # what the login page needs, served before login
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
}
PAGE_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'"
)

GET_PAGES: dict[str, Callable[[ConsoleOptions, dict[str, str]], Any]] = {
    "traffic": pages.traffic,
    "methods": pages.methods,
    "calls": pages.calls,
    "findings": pages.findings,
    "capture": lambda options, args: pages.capture(options),
    "sessions": lambda options, args: pages.sessions(options),
    "cache": lambda options, args: pages.cache(options),
    "system": lambda options, args: pages.system(options),
    "queue": lambda options, args: pages.queue(options),
    "doctor": lambda options, args: pages.doctor(options),
}
ACTIONS: dict[str, Callable[[ConsoleOptions, dict[str, Any]], Any]] = {
    "capture/on": pages.capture_on,
    "capture/off": pages.capture_off,
    "sessions/kill": pages.kill_sessions,
}

URLS = Map(
    [
        Rule("/ops", endpoint="root", strict_slashes=False),
        Rule("/ops/", endpoint="index"),
        *(Rule(f"/ops/{name}", endpoint="public", defaults={"name": name}) for name in PUBLIC),
        Rule("/ops/static/<path:path>", endpoint="static"),
        Rule("/ops/api/login", endpoint="login", methods=["POST"]),
        Rule("/ops/api/logout", endpoint="logout", methods=["POST"]),
        Rule("/ops/api/me", endpoint="me", methods=["GET"]),
        Rule("/ops/api/calls/<call_id>", endpoint="call", methods=["GET"]),
        Rule("/ops/api/calls/<call_id>/speedscope", endpoint="speedscope", methods=["GET"]),
        *(
            Rule(f"/ops/api/{name}", endpoint="action", defaults={"action": name}, methods=["POST"])
            for name in ACTIONS
        ),
        Rule("/ops/api/<page>", endpoint="page", methods=["GET"]),
    ],
    strict_slashes=False,
)


def _json(data: Any, status: int = 200) -> Response:
    response = Response(json.dumps(data, default=str), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(status: int, message: str) -> Response:
    return _json({"error": message, "status": status}, status)


class Console:
    """The console as a WSGI application of its own (mounted under /ops/ by the middleware)."""

    def __init__(self, options: ConsoleOptions):
        self.options = options

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.respond(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        status, reason = network_access(request.environ, self.options.networks)
        if status != 200:
            return _error(status, f"the ops console: {reason}")
        adapter = URLS.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except HTTPException as exc:
            if exc.code in (301, 302, 307, 308):
                return exc.get_response(request.environ)
            return _error(exc.code or 404, exc.description or "not found")
        try:
            return self.dispatch(request, endpoint, values)
        except auth.Refused as exc:
            if endpoint == "index":
                return self.page("login.html", status=200)
            return _error(exc.status, exc.message)
        except pages.PageError as exc:
            return _error(exc.status, exc.message)
        except HTTPException as exc:  # trytond's own refusals (a session store down: 503)
            return _error(exc.code or 500, exc.description or exc.name)
        except Exception:
            logger.exception("ops console: %s failed", request.path)
            return _error(500, "internal error (see the server log)")

    def dispatch(self, request: Request, endpoint: str, values: dict[str, Any]) -> Response:
        context = auth.request_context(request.environ)
        if endpoint == "root":
            return redirect(f"{PREFIX}/")
        if endpoint == "public":
            return self.static(request, values["name"])
        if endpoint == "login":
            return self.login(request, context)
        admin = auth.verify(self.options.database, auth.token_of(request.environ), context)
        if endpoint == "index":
            return self.page("index.html")
        if endpoint == "static":
            return self.static(request, values["path"])
        if endpoint == "logout":
            auth.log_out(admin, context)
            response = _json({"logged_out": admin.login})
            response.delete_cookie(auth.COOKIE, path=f"{PREFIX}/")
            return response
        if endpoint == "me":
            return _json(
                {
                    "login": admin.login,
                    "uid": admin.uid,
                    "database": admin.database,
                    "refresh_s": self.options.refresh_s,
                    "window": self.options.window,
                    "perf": self.options.perf,
                }
            )
        if endpoint == "call":
            return _json(pages.call(self.options, values["call_id"]))
        if endpoint == "speedscope":
            return _json(pages.speedscope(self.options, values["call_id"]))
        if endpoint == "action":
            return _json(ACTIONS[values["action"]](self.options, _body(request)))
        page = GET_PAGES.get(values["page"])
        if page is None:
            raise NotFound(f"no console page {values['page']!r}")
        return _json(page(self.options, dict(request.args)))

    def login(self, request: Request, context: dict[str, Any]) -> Response:
        body = _body(request)
        login, password = body.get("login"), body.get("password")
        if not isinstance(login, str) or not isinstance(password, str) or not login:
            raise pages.PageError(400, "login and password are required (strings)")
        admin = auth.log_in(self.options.database, login, password, context)
        response = _json({"login": admin.login, "uid": admin.uid, "token": admin.token})
        response.set_cookie(
            auth.COOKIE,
            admin.token,
            path=f"{PREFIX}/",
            httponly=True,
            secure=request.scheme == "https",
            samesite="Strict",
        )
        return response

    def page(self, name: str, status: int = 200) -> Response:
        response = Response(STATIC.joinpath(name).read_bytes(), status=status, mimetype="text/html")
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Cache-Control"] = "no-store"
        return response

    def static(self, request: Request, path: str) -> Response:
        response = send_from_directory(str(STATIC), path, request.environ, max_age=3600)
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response


def _body(request: Request) -> dict[str, Any]:
    """A JSON object body; anything else (a form, which any site can post) is refused."""
    if request.mimetype != "application/json":
        raise pages.PageError(415, "send a JSON body (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise pages.PageError(400, "the body must be a JSON object")
    return data


class ConsoleMiddleware:
    """`[wsgi middleware]` factory: trytond calls it as `ConsoleMiddleware(app.wsgi_app)`."""

    def __init__(self, app, options: ConsoleOptions | None = None):
        self.app = app
        self.options = options or ConsoleOptions.from_trytond()
        self.console = _behind_proxies(Console(self.options))

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(f"{PREFIX}/"):
            return self.console(environ, start_response)
        return self.app(environ, start_response)


def _behind_proxies(console: Console):
    """The console sees the client address trytond sees: the same ProxyFix, when configured
    (middlewares run outside trytond's own)."""
    from trytond.config import config

    count = config.getint("web", "num_proxies", default=0)
    if not count:
        return console
    from werkzeug.middleware.proxy_fix import ProxyFix

    return ProxyFix(console, x_for=count, x_proto=count, x_host=count, x_port=count, x_prefix=count)
