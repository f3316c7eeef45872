"""Who may use the console: a Tryton login through trytond's own session machinery, and the
administrator check, both made inside trytond on every request.

The console's session is a trytond session (`ir.session`, or the Redis store of ops_session):
`security.login` creates it, `security.check` verifies it (bound to the client address, expiring
like every other session), `security.logout` ends it. Its token has the form of trytond's
`Authorization: Session` header, base64 of `login:uid:key`: a script sends that header, a browser
the same value in an HttpOnly cookie.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

COOKIE = "tryton_ops_console"


class Refused(Exception):
    """The request may not go on: HTTP `status` and a message the client may read."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Admin:
    """A verified administrator's console session."""

    database: str
    uid: int
    login: str
    key: str

    @property
    def token(self) -> str:
        return encode(self.login, self.uid, self.key)


def encode(login: str, uid: int, key: str) -> str:
    return base64.b64encode(f"{login}:{uid}:{key}".encode()).decode()


def decode(token: str) -> tuple[str, int, str] | None:
    """(login, uid, key) of a token, None when it is not one."""
    try:
        login, uid, key = base64.b64decode(token.strip(), validate=True).decode().split(":", 2)
        return login, int(uid), key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def token_of(environ: dict[str, Any]) -> str | None:
    """`Authorization: Session <token>` (scripts), else the console cookie (browsers)."""
    scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "session" and value.strip():
        return value.strip()
    from werkzeug.http import parse_cookie

    return parse_cookie(environ).get(COOKIE) or None


def request_context(environ: dict[str, Any]) -> dict[str, Any]:
    """trytond's `{'_request': ...}` context: sessions are bound to `remote_addr`."""
    scheme = environ.get("wsgi.url_scheme", "http")
    return {
        "_request": {
            "remote_addr": environ.get("REMOTE_ADDR"),
            "http_host": environ.get("HTTP_HOST"),
            "scheme": scheme,
            "is_secure": scheme == "https",
            "root_path": environ.get("SCRIPT_NAME", ""),
        }
    }


def _administrator(database: str, uid: int, context: dict[str, Any]) -> str | None:
    """The user's login if they are an administrator (asked of trytond), else None."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from tryton_ops.access.administrators import is_administrator

    with Transaction().start(database, uid, readonly=True, context=context):
        if not is_administrator():
            return None
        return Pool().get("res.user")(uid).login


def log_in(database: str, login: str, password: str, context: dict[str, Any]) -> Admin:
    """A new console session for an administrator; anyone else is refused and keeps none."""
    from trytond import security
    from trytond.exceptions import LoginException, RateLimitException

    try:
        found = security.login(database, login, {"password": password}, context=context)
    except RateLimitException:
        raise Refused(429, "too many login attempts; wait and try again") from None
    except LoginException:
        found = None
    if not found:
        raise Refused(401, "wrong login or password")
    uid, key = found
    if _administrator(database, uid, context) is None:
        security.logout(database, uid, key, context=context)
        raise Refused(403, "the ops console is reserved to administrators")
    return Admin(database, uid, login, key)


def verify(database: str, token: str | None, context: dict[str, Any]) -> Admin:
    """The administrator a token names, checked by trytond now; else Refused (401/403)."""
    from trytond import security

    parts = decode(token) if token else None
    if parts is None:
        raise Refused(401, "log in first")
    _, uid, key = parts  # trytond verifies the id and the key, not the login a token names
    if security.check(database, uid, key, context=context) is None:
        raise Refused(401, "session expired or ended: log in again")
    login = _administrator(database, uid, context)
    if login is None:
        raise Refused(403, "the ops console is reserved to administrators")
    return Admin(database, uid, login, key)


def log_out(admin: Admin, context: dict[str, Any]) -> None:
    from trytond import security

    security.logout(admin.database, admin.uid, admin.key, context=context)
