"""HTTP to trytond with httpx: pooling, timeouts, retries; JSON-RPC encoding; sync and asyncio.

One pooled httpx client per transport (keep-alive, `Accept-Encoding: gzip`, JSON-RPC bodies over
8 KiB sent gzipped; trytond decodes them). Every request is an `Exchange` (what to send, how to
read the answer, whether sending it twice is harmless), so JSON-RPC and REST (rest.py) share the
retry loop. A request is retried only when that cannot apply it twice: read-only ones on any
connection error, 502/503 or timeout, others only when the connection could not even be opened.
As urllib3's `Retry` counts them apart, error answers (502/503) and failed connections each
have their own `retries`: a database in maintenance answering 503 must not use up the retry
that a keep-alive connection the server closed as the request went out needs.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import gzip
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and how to read its answer.

    `label` names it in error messages (the JSON-RPC method, or `GET party.party/3` for REST);
    headers and body stay out of the repr, they may hold credentials.
    """

    verb: str
    url: str
    label: str
    read: Callable[[httpx.Response], Any] = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    content: bytes | None = field(default=None, repr=False)
    params: list[tuple[str, str]] | None = None
    safe: bool = False


def check_url(url: str) -> str:
    """`url` without its trailing slash, or ValueError if it cannot name a trytond server."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"not a server URL: {url!r} (expected http(s)://host[:port][/path])")
    return url.rstrip("/")


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

    def rpc_exchange(self, call: Call, auth: Auth | None) -> Exchange:
        payload = {"id": next(self._ids), "method": call.method, "params": list(call.params)}
        body = types.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if len(body) > GZIP_ABOVE:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        if auth is not None and call.method != LOGIN:
            headers["Authorization"] = auth.header()
        read = functools.partial(self.result, call)
        return Exchange(
            "POST", self.endpoint(call.method), call.method, read, headers, body, safe=call.safe
        )

    @staticmethod
    def result(call: Call, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise errors.from_status(call.method, response.status_code, response.text)
        body = types.loads(response.content)
        if body.get("error") is not None:
            raise errors.from_server(body["error"])
        return body.get("result")

    def retry_delay(
        self, exchange: Exchange, exc: Exception, attempts: Counter[bool]
    ) -> float | None:
        """Seconds to wait before sending `exchange` again, or None to give up; counts the
        retry in `attempts` (keyed by whether the server answered)."""
        answered = isinstance(exc, errors.TransportError)
        attempt = attempts[answered]
        if attempt >= self.retries:
            return None
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        retriable = isinstance(exc, httpx.TransportError) or (
            answered and exc.status in RETRY_STATUSES
        )
        if never_sent or (exchange.safe and retriable):
            attempts[answered] += 1
            return 0.1 * 2**attempt
        return None

    @staticmethod
    def wrap(exchange: Exchange, exc: httpx.HTTPError) -> errors.TransportError:
        text = f"{exchange.label}: {exc.__class__.__name__}: {exc}"
        if isinstance(exc, httpx.TimeoutException):
            return errors.Timeout(text)
        return errors.TransportError(text)


def _http_options(
    timeout: float, verify: bool | str, max_connections: int, headers: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "timeout": timeout,
        "verify": verify,
        # httpx masks Authorization in the repr of its headers
        "headers": {"Accept-Encoding": "gzip", **(headers or {})},
        "limits": httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    }


def _request(http: httpx.Client | httpx.AsyncClient, exchange: Exchange) -> Any:
    """The response of `http` to `exchange` (an awaitable for an AsyncClient)."""
    return http.request(
        exchange.verb,
        exchange.url,
        content=exchange.content,
        headers=exchange.headers,
        params=exchange.params,
    )


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
        headers: dict[str, str] | None = None,
    ):
        super().__init__(url, database, retries)
        self.http = httpx.Client(**_http_options(timeout, verify, max_connections, headers))

    def send(self, call: Call, auth: Auth | None = None) -> Any:
        return self.exchange(lambda: self.rpc_exchange(call, auth))

    def exchange(self, build: Callable[[], Exchange]) -> Any:
        """Send what `build()` returns (built again for each attempt); return what it reads."""
        attempts: Counter[bool] = Counter()
        while True:
            exchange = build()
            try:
                return exchange.read(_request(self.http, exchange))
            except (httpx.HTTPError, errors.TransportError) as exc:
                delay = self.retry_delay(exchange, exc, attempts)
                if delay is None:
                    if isinstance(exc, httpx.HTTPError):
                        raise self.wrap(exchange, exc) from exc
                    raise
                time.sleep(delay)

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
        headers: dict[str, str] | None = None,
    ):
        super().__init__(url, database, retries)
        self.http = httpx.AsyncClient(**_http_options(timeout, verify, max_connections, headers))

    async def send(self, call: Call, auth: Auth | None = None) -> Any:
        return await self.exchange(lambda: self.rpc_exchange(call, auth))

    async def exchange(self, build: Callable[[], Exchange]) -> Any:
        """Send what `build()` returns (built again for each attempt); return what it reads."""
        attempts: Counter[bool] = Counter()
        while True:
            exchange = build()
            try:
                return exchange.read(await _request(self.http, exchange))
            except (httpx.HTTPError, errors.TransportError) as exc:
                delay = self.retry_delay(exchange, exc, attempts)
                if delay is None:
                    if isinstance(exc, httpx.HTTPError):
                        raise self.wrap(exchange, exc) from exc
                    raise
                await asyncio.sleep(delay)

    async def close(self) -> None:
        await self.http.aclose()
