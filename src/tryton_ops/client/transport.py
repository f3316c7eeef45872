"""JSON-RPC over HTTP with httpx: request encoding, error mapping, retries; sync and asyncio.

One pooled httpx client per transport (keep-alive, `Accept-Encoding: gzip`, bodies over 8 KiB
sent gzipped; trytond decodes them). A call is retried only when that cannot apply it twice:
read-only methods on any connection error, 502/503 or timeout, other methods only when the
connection could not even be opened.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx

from tryton_ops.client import errors, types

LOGIN = "common.db.login"
SERVER_METHODS = frozenset(
    {"common.server.version", "common.db.list", "common.authentication.services"}
)
# model methods that only read: safe to send twice
SAFE_MODEL_METHODS = frozenset(
    {
        "read",
        "search",
        "search_count",
        "search_read",
        "fields_get",
        "fields_view_get",
        "view_toolbar_get",
        "default_get",
        "get_preferences",
        "export_data",
    }
)
GZIP_ABOVE = 8192
RETRY_STATUSES = frozenset({502, 503})


@dataclass(frozen=True)
class Call:
    """One JSON-RPC call: `model.party.party.read` with its positional parameters."""

    method: str
    params: tuple = ()

    @property
    def safe(self) -> bool:
        if self.method in SERVER_METHODS:
            return True
        return self.method.startswith("model.") and (
            self.method.rsplit(".", 1)[-1] in SAFE_MODEL_METHODS
        )


class Auth(NamedTuple):
    """A session as trytond hands it out; sent in the `Authorization: Session` header."""

    login: str
    user_id: int
    token: str

    def header(self) -> str:
        raw = f"{self.login}:{self.user_id}:{self.token}".encode()
        return "Session " + base64.b64encode(raw).decode()


class _Codec:
    """What both transports share: URL, body, headers, decoding and the retry decision."""

    def __init__(self, url: str, database: str | None, retries: int):
        self.url = url.rstrip("/")
        self.database = database
        self.retries = retries
        self._ids = itertools.count(1)

    def endpoint(self, method: str) -> str:
        """Server-level methods are served at `/rpc/`, everything else per database."""
        if method in SERVER_METHODS or not self.database:
            return f"{self.url}/rpc/"
        return f"{self.url}/{self.database}/rpc/"

    def request(self, call: Call, auth: Auth | None) -> tuple[str, dict[str, str], bytes]:
        payload = {"id": next(self._ids), "method": call.method, "params": list(call.params)}
        body = types.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if len(body) > GZIP_ABOVE:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        if auth is not None and call.method != LOGIN:
            headers["Authorization"] = auth.header()
        return self.endpoint(call.method), headers, body

    @staticmethod
    def result(call: Call, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise errors.from_status(call.method, response.status_code, response.text)
        body = types.loads(response.content)
        if body.get("error") is not None:
            raise errors.from_server(body["error"])
        return body.get("result")

    def retry_delay(self, call: Call, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before sending `call` again, or None to give up."""
        if attempt >= self.retries:
            return None
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        retriable = isinstance(exc, httpx.TransportError) or (
            isinstance(exc, errors.TransportError) and exc.status in RETRY_STATUSES
        )
        if never_sent or (call.safe and retriable):
            return 0.1 * 2**attempt
        return None

    @staticmethod
    def wrap(call: Call, exc: httpx.HTTPError) -> errors.TransportError:
        text = f"{call.method}: {exc.__class__.__name__}: {exc}"
        if isinstance(exc, httpx.TimeoutException):
            return errors.Timeout(text)
        return errors.TransportError(text)


def _http_options(timeout: float, verify: bool | str, max_connections: int) -> dict[str, Any]:
    return {
        "timeout": timeout,
        "verify": verify,
        "headers": {"Accept-Encoding": "gzip"},
        "limits": httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    }


class HttpTransport(_Codec):
    """Blocking transport; thread-safe (httpx pools connections across threads)."""

    def __init__(
        self,
        url: str,
        database: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        retries: int = 2,
        max_connections: int = 10,
    ):
        super().__init__(url, database, retries)
        self.http = httpx.Client(**_http_options(timeout, verify, max_connections))

    def send(self, call: Call, auth: Auth | None = None) -> Any:
        for attempt in itertools.count():
            url, headers, body = self.request(call, auth)
            try:
                return self.result(call, self.http.post(url, content=body, headers=headers))
            except (httpx.HTTPError, errors.TransportError) as exc:
                delay = self.retry_delay(call, exc, attempt)
                if delay is None:
                    if isinstance(exc, httpx.HTTPError):
                        raise self.wrap(call, exc) from exc
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.http.close()


class AsyncHttpTransport(_Codec):
    """asyncio transport: many tasks share one pool of `max_connections` connections."""

    def __init__(
        self,
        url: str,
        database: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        retries: int = 2,
        max_connections: int = 10,
    ):
        super().__init__(url, database, retries)
        self.http = httpx.AsyncClient(**_http_options(timeout, verify, max_connections))

    async def send(self, call: Call, auth: Auth | None = None) -> Any:
        for attempt in itertools.count():
            url, headers, body = self.request(call, auth)
            try:
                response = await self.http.post(url, content=body, headers=headers)
                return self.result(call, response)
            except (httpx.HTTPError, errors.TransportError) as exc:
                delay = self.retry_delay(call, exc, attempt)
                if delay is None:
                    if isinstance(exc, httpx.HTTPError):
                        raise self.wrap(call, exc) from exc
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.http.aclose()
