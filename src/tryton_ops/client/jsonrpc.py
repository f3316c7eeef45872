"""A bare synchronous JSON-RPC connection (no context, no records), for tooling and readiness.

`Client` (session.py) is the full API; this is the raw call with the same transport.
"""

from __future__ import annotations

from typing import Any

from tryton_ops.client.transport import LOGIN, Auth, Call, HttpTransport


class Connection:
    """One server URL and optionally one database; `login` turns it into a session."""

    def __init__(
        self,
        url: str,
        database: str | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
    ):
        self.transport = HttpTransport(url, database, timeout=timeout, verify=verify, retries=0)
        self.url, self.database = self.transport.url, database
        self.auth: Auth | None = None

    @property
    def user_id(self) -> int | None:
        return self.auth.user_id if self.auth else None

    @property
    def session(self) -> str | None:
        return self.auth.token if self.auth else None

    @property
    def login_name(self) -> str | None:
        return self.auth.login if self.auth else None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def call(self, method: str, *params: Any) -> Any:
        """Call `method`; return its result or raise ServerError / TransportError."""
        return self.transport.send(Call(method, params), self.auth)

    def login(self, login: str, password: str, language: str = "en") -> int:
        result = self.call(LOGIN, login, {"password": password}, language)
        self.auth = Auth(login, result[0], result[1])
        return self.auth.user_id

    def logout(self) -> None:
        if self.auth is not None:
            self.call("common.db.logout")
        self.auth = None
