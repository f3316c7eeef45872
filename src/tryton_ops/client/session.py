"""Sessions: `Client` (blocking) and `AsyncClient` (asyncio) with one implementation.

Every operation is written once as a generator that yields what it needs from the server
(`Call`), a batch of sub-operations to run together (`Parallel`) or a hook to run (`Hook`), and
receives the answers. `Client` drives those generators with blocking I/O, `AsyncClient` with
asyncio (a `Parallel` batch then runs concurrently). The public methods of both are therefore the
same, those of `AsyncClient` returning awaitables.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from tryton_ops.client.errors import ServerWarning, SessionExpired
from tryton_ops.client.transport import LOGIN, AsyncHttpTransport, Auth, Call, HttpTransport

if TYPE_CHECKING:
    from tryton_ops.client.model import Model
    from tryton_ops.client.record import Record
    from tryton_ops.client.wizard import Wizard

Op = Generator[Any, Any, Any]


class Parallel(NamedTuple):
    """Sub-operations whose results are wanted together (concurrently under asyncio)."""

    ops: list[Op]


class Hook(NamedTuple):
    """A start/stop hook to call with the session (awaited if it returns an awaitable)."""

    function: Callable[[Any], Any]


class Session:
    """State and operations shared by `Client` and `AsyncClient`.

    The password is kept in memory only when `login(..., relogin=True)` asks for automatic
    re-login after the session expires. `context` comes from the user's preferences.
    """

    blocking = True

    def __init__(
        self,
        url: str,
        database: str,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        retries: int = 2,
        max_connections: int = 10,
        batch_size: int = 1000,
    ):
        self.url = url.rstrip("/")
        self.database = database
        self.batch_size = batch_size
        self.auth: Auth | None = None
        self.context: dict[str, Any] = {}
        self._transport_options = {
            "timeout": timeout,
            "verify": verify,
            "retries": retries,
            "max_connections": max_connections,
        }
        self._relogin: tuple[str, str, str] | None = None
        self._fields: dict[str, dict[str, dict]] = {}
        self._records: weakref.WeakValueDictionary[tuple[str, int], Record] = (
            weakref.WeakValueDictionary()
        )
        self._on_start: list[Callable] = []
        self._on_stop: list[Callable] = []

    # --- public API (values from Client, awaitables from AsyncClient) ----------------------

    @property
    def user_id(self) -> int | None:
        return self.auth.user_id if self.auth else None

    def on_start(self, function: Callable) -> Callable:
        """Register `function(session)` to run after each login (usable as a decorator)."""
        self._on_start.append(function)
        return function

    def on_stop(self, function: Callable) -> Callable:
        """Register `function(session)` to run before logout."""
        self._on_stop.append(function)
        return function

    def login(self, login: str, password: str, language: str = "en", relogin: bool = False):
        """Open a session; with `relogin=True` the password is kept to log in again on expiry."""
        return self._run(self._g_login(login, password, language, relogin))

    def logout(self):
        return self._run(self._g_logout())

    def call(self, method: str, *params: Any):
        """A raw JSON-RPC call with this session (no context added)."""
        return self._run(self._g_call(method, *params))

    def fields_get(self, model: str):
        """The model's field descriptions, fetched once per session."""
        return self._run(self._g_fields(model))

    def model(self, name: str, context: dict[str, Any] | None = None) -> Model:
        from tryton_ops.client.model import Model

        return Model(self, name, context)

    def acknowledge(self, warning: ServerWarning, always: bool = False):
        """Let the call that raised `warning` pass when sent again (as Tryton's client does:
        a `res.user.warning` for this user; with `always` for every later call too)."""
        values = {"user": self.user_id, "name": warning.name, "always": always}
        return self._run(self._g_call("model.res.user.warning.create", [values], self.context))

    def wizard(
        self, name: str, records: list[Record] | None = None, context: dict | None = None
    ) -> Wizard:
        """A run of wizard `name` on records (they become active_model/active_ids)."""
        from tryton_ops.client.wizard import Wizard

        return Wizard(self, name, records, context)

    # --- operations ---------------------------------------------------------------------------

    def _g_call(self, method: str, *params: Any) -> Op:
        return (yield Call(method, params))

    def _login_call(self, login: str, password: str, language: str) -> Call:
        return Call(LOGIN, (login, {"password": password}, language))

    def _g_login(self, login: str, password: str, language: str, relogin: bool) -> Op:
        result = yield self._login_call(login, password, language)
        self.auth = Auth(login, result[0], result[1])
        self._relogin = (login, password, language) if relogin else None
        self.context = yield Call("model.res.user.get_preferences", (True, {}))
        for function in self._on_start:
            yield Hook(function)
        return self.auth.user_id

    def _g_logout(self) -> Op:
        if self.auth is None:
            return
        for function in self._on_stop:
            yield Hook(function)
        try:
            yield Call("common.db.logout")
        except SessionExpired:
            pass  # already gone on the server: the goal is reached
        finally:
            self.auth, self._relogin, self.context = None, None, {}
            self._fields.clear()
            self._records.clear()

    def _g_fields(self, model: str) -> Op:
        if model not in self._fields:
            self._fields[model] = yield Call(f"model.{model}.fields_get", ([], self.context))
        return self._fields[model]

    def _renewed(self, stale: Auth | None) -> bool:
        """Whether a call that failed with `stale` may be sent again after a new login."""
        return self._relogin is not None and stale is not None

    def _set_auth(self, result: list) -> None:
        self.auth = Auth(self._relogin[0], result[0], result[1])


class Client(Session):
    """Blocking session over a pooled httpx client; threads may share it for calls (records
    themselves are not locked)."""

    def __init__(self, url: str, database: str, **options: Any):
        super().__init__(url, database, **options)
        self.transport = HttpTransport(self.url, database, **self._transport_options)
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out (if logged in) and release the connections."""
        try:
            self.logout()
        finally:
            self.transport.close()

    def _run(self, op: Op) -> Any:
        value, error = None, None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = self._execute(step)
            except Exception as exc:
                error = exc

    def _execute(self, step: Any) -> Any:
        if isinstance(step, Call):
            return self._send(step)
        if isinstance(step, Parallel):
            return [self._run(op) for op in step.ops]
        return step.function(self)

    def _send(self, call: Call) -> Any:
        auth = self.auth
        try:
            return self.transport.send(call, auth)
        except SessionExpired:
            if not self._renewed(auth):
                raise
            with self._lock:
                if self.auth is auth:
                    self._set_auth(self.transport.send(self._login_call(*self._relogin)))
            return self.transport.send(call, self.auth)

    def _pages(self, page: Callable[[int | None], Op], size: int) -> Iterator[Record]:
        after = None
        while True:
            records = self._run(page(after))
            yield from records
            if len(records) < size:
                return
            after = records[-1].id


class AsyncClient(Session):
    """asyncio session: any number of tasks may share it (one re-login at a time)."""

    blocking = False

    def __init__(self, url: str, database: str, **options: Any):
        super().__init__(url, database, **options)
        self.transport = AsyncHttpTransport(self.url, database, **self._transport_options)
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Log out (if logged in) and release the connections."""
        try:
            await self.logout()
        finally:
            await self.transport.close()

    async def _run(self, op: Op) -> Any:
        value, error = None, None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = await self._execute(step)
            except Exception as exc:
                error = exc

    async def _execute(self, step: Any) -> Any:
        if isinstance(step, Call):
            return await self._send(step)
        if isinstance(step, Parallel):
            return list(await asyncio.gather(*(self._run(op) for op in step.ops)))
        result = step.function(self)
        return await result if inspect.isawaitable(result) else result

    async def _send(self, call: Call) -> Any:
        auth = self.auth
        try:
            return await self.transport.send(call, auth)
        except SessionExpired:
            if not self._renewed(auth):
                raise
            async with self._lock:
                if self.auth is auth:
                    result = await self.transport.send(self._login_call(*self._relogin))
                    self._set_auth(result)
            return await self.transport.send(call, self.auth)

    async def _pages(self, page: Callable[[int | None], Op], size: int) -> AsyncIterator[Record]:
        after = None
        while True:
            records = await self._run(page(after))
            for record in records:
                yield record
            if len(records) < size:
                return
            after = records[-1].id
