"""A small synchronous JSON-RPC connection with session login, over httpx."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import httpx

from tryton_ops.client import types
from tryton_ops.client.errors import ServerError, TransportError

SERVER_METHODS = frozenset(
    {"common.server.version", "common.db.list", "common.authentication.services"}
)


class Connection:
    """One server URL and optionally one database; `login` turns it into a session."""

    def __init__(
        self,
        url: str,
        database: str | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
    ):
        self.url = url.rstrip("/")
        self.database = database
        self._ids = itertools.count(1)
        self._http = httpx.Client(
            timeout=timeout, verify=verify, headers={"Accept-Encoding": "gzip"}
        )
        self.user_id: int | None = None
        self.session: str | None = None
        self.login_name: str | None = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def endpoint(self, method: str) -> str:
        """Server-level methods are served at `/rpc/`, everything else per database."""
        if method in SERVER_METHODS or not self.database:
            return f"{self.url}/rpc/"
        return f"{self.url}/{self.database}/rpc/"

    def call(self, method: str, *params: Any) -> Any:
        """Call `method`; return its result or raise ServerError / TransportError."""
        payload = {"id": next(self._ids), "method": method, "params": list(params)}
        headers = {"Content-Type": "application/json"}
        if self.session is not None:
            token = f"{self.login_name}:{self.user_id}:{self.session}".encode()
            headers["Authorization"] = "Session " + base64.b64encode(token).decode()
        try:
            response = self._http.post(
                self.endpoint(method), content=types.dumps(payload), headers=headers
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{method}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code != 200:
            raise TransportError(
                f"{method}: HTTP {response.status_code}: {response.text[:200]}",
                status=response.status_code,
            )
        body = types.loads(response.content)
        if body.get("error") is not None:
            raise ServerError(body["error"])
        return body.get("result")

    def login(self, login: str, password: str, language: str = "en") -> int:
        result = self.call("common.db.login", login, {"password": password}, language)
        self.user_id, self.session = result[0], result[1]
        self.login_name = login
        return self.user_id

    def logout(self) -> None:
        if self.session is not None:
            self.call("common.db.logout")
        self.user_id = self.session = None
