"""Errors raised by the client: the transport failed, or the server answered with an error."""

from __future__ import annotations

from typing import Any


class RPCError(Exception):
    """Base of every client error."""


class TransportError(RPCError):
    """No usable HTTP answer: connection refused, timeout, or an HTTP error status."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


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
        super().__init__(f"{self.kind}: {self.detail!r}" if self.detail else self.kind)
