"""Errors raised by the client, one class per thing a caller may want to handle differently.

Two families: `TransportError` (no usable answer: connection, HTTP status, timeout, expired
session or refused key) and `ServerError` (the server answered with a Tryton exception). Tryton's
`AccessError` travels as a plain `UserError`; it is recognised by trytond's access messages.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any


def _padded(values: Any, defaults: tuple) -> list:
    """`values` (a list the server sent) cut or completed from `defaults` to their length."""
    values = list(values)[: len(defaults)]
    return values + list(defaults[len(values) :])


class RPCError(Exception):
    """Base of every client error."""


class TransportError(RPCError):
    """No usable HTTP answer: connection refused, timeout, or an HTTP error status."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Timeout(TransportError):
    """The client gave up waiting, or the server stopped the call at its own timeout (504)."""


class LoginFailed(TransportError):
    """Wrong login or password (401), or too many attempts (429); over REST a refused key."""


class SessionExpired(TransportError):
    """The session is no longer valid (401): logged out, deleted, or past `[session] max_age`."""


class Forbidden(TransportError):
    """The server refused the method (403): not exposed over RPC, or a fresh session is needed;
    over REST also an action the user may not run."""


class NotFound(TransportError):
    """REST: the record does not exist or the user may not see it, or no such database (404)."""


class ServerError(RPCError):
    """The server answered with a JSON-RPC error.

    `kind` is Tryton's exception name (`UserError`, `LoginException`, ...) or the text of an
    unexpected server exception; `detail` holds the rest of what the server sent.
    """

    def __init__(self, error: Any):
        self.error = error
        if isinstance(error, list | tuple) and error:
            self.kind = str(error[0])
            self.detail = error[1] if len(error) > 1 else None
        else:
            self.kind, self.detail = str(error), None
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.kind}: {self.detail!r}" if self.detail else self.kind


class UserError(ServerError):
    """A business rule refused the call; `message`, `description` and `domain` as sent."""

    def __init__(self, error: Any):
        self.message, self.description, self.domain = _padded(error[1], ("", "", None))
        self.description = self.description or ""
        super().__init__(error)

    def _text(self) -> str:
        return f"{self.message} - {self.description}" if self.description else self.message


class AccessError(UserError):
    """The user may not read, write, create, delete or call this (rules, groups, buttons)."""


class ServerWarning(ServerError):
    """A warning the user must acknowledge; `name` is what to skip (`_skip_warnings`)."""

    def __init__(self, error: Any):
        self.name, self.message, self.description = _padded(error[1], ("", "", ""))
        super().__init__(error)

    def _text(self) -> str:
        return f"{self.message} - {self.description}" if self.description else self.message


class ConcurrencyError(ServerError):
    """The record changed on the server since it was read (its `_timestamp` is older)."""

    def __init__(self, error: Any):
        self.message = str(error[1])
        super().__init__(error)

    def _text(self) -> str:
        return self.message


class LoginRequired(ServerError):
    """The login needs another parameter (`name`, of `type` password or char)."""

    def __init__(self, error: Any):
        self.name, self.message, self.type = _padded(error[1], ("", "", "password"))
        super().__init__(error)


# trytond's access messages in English (ir/message.xml): other languages give a plain UserError
_ACCESS = re.compile(
    r"^(You are not allowed to (access|create|read|write|delete|execute|search|modify)"
    r"|You are trying to (read|write to) records .* that don\'t exist"
    r"|Calling button .* is not allowed)",
    re.DOTALL,
)
_KINDS = {
    "UserWarning": ServerWarning,
    "ConcurrencyException": ConcurrencyError,
    "LoginException": LoginRequired,
}


def from_server(error: Any) -> ServerError:
    """The exception for a JSON-RPC `error` member."""
    if not (isinstance(error, list | tuple) and len(error) > 1 and isinstance(error[1], list)):
        if isinstance(error, list | tuple) and error and error[0] == "ConcurrencyException":
            return ConcurrencyError(error)
        return ServerError(error)
    if error[0] == "UserError":
        message = str(error[1][0]) if error[1] else ""
        return (AccessError if _ACCESS.match(message) else UserError)(error)
    return _KINDS.get(error[0], ServerError)(error)


def _status_message(label: str, status: int, text: str) -> str:
    """`label: HTTP 403: <the server's text>`, the text without its HTML."""
    text = " ".join(html.unescape(re.sub(r"<title>.*?</title>|<[^>]+>", " ", text)).split())
    return f"{label}: HTTP {status}" + (f": {text[:200]}" if text else "")


def _by_status(message: str, status: int) -> TransportError:
    """What every protocol maps alike: 403, the server's timeout, the rest."""
    if status == 403:
        return Forbidden(message, status)
    if status == 504:
        return Timeout(message + " (the server's timeout)", status)
    return TransportError(message, status)


def from_status(method: str, status: int, text: str) -> TransportError:
    """The exception for an HTTP error status; the server's text is kept when it sent one."""
    message = _status_message(method, status, text)
    if status in (401, 429) and method == "common.db.login":
        return LoginFailed(message, status)
    if status == 401:
        return SessionExpired(message + " (session expired or invalid)", status)
    return _by_status(message, status)


def from_rest_status(label: str, status: int, text: str) -> RPCError:
    """The exception for an HTTP error status of trytond's REST API (protocols/rest.py).

    A refused business rule comes as 400 with a JSON `message` and `description`: it becomes
    the `UserError` (or `AccessError`) JSON-RPC would raise for it.
    """
    if status == 400:
        body = _json_object(text)
        if isinstance(body.get("message"), str):
            details = [body["message"], body.get("description") or "", None]
            return from_server(["UserError", details])
    message = _status_message(label, status, text)
    if status == 401:
        return LoginFailed(
            message + " (application key unknown, cancelled, or not for 'rest')", status
        )
    if status == 404:
        return NotFound(message, status)
    return _by_status(message, status)


def _json_object(text: str) -> dict:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
