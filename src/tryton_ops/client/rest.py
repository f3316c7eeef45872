"""trytond 8.x REST API (`/<db>/rest/`) with a user application key: sync and asyncio.

No session, no login: every request carries `Authorization: Bearer <key>`, a validated
`res.user.application` of application `rest`, and runs as that key's user. The API is CRUD on
one record at a time, searches, the model's `__rpc__` methods as actions, and reports; values use
Tryton's JSON encoding (types.py) both ways. Requests go through the same pooled transport as
JSON-RPC (transport.py: keep-alive, timeouts, retries of GETs only); request bodies are not
gzipped, since trytond decompresses only bodies of session users.

Every request is built once (`_Rest`), then sent blocking by `RestClient` or awaited by
`AsyncRestClient`, so the two have the same methods.
"""

from __future__ import annotations

import base64
import functools
import operator
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from tryton_ops.client import errors, types
from tryton_ops.client.transport import AsyncHttpTransport, Exchange, HttpTransport, check_url

Domain = list
# paging without an order must not depend on how the database happens to return ties
DEFAULT_PAGE_ORDER = (("id", "ASC"),)


class Report(NamedTuple):
    """A rendered report: its bytes and the file name the server gave it."""

    content: bytes
    filename: str
    mimetype: str | None


class Page(NamedTuple):
    """One slice of a search read with a `Range` header; `total` is None when the server only
    knows there are many more (`*`)."""

    rows: list[dict[str, Any]]
    offset: int
    total: int | None


def _b64json(value: Any) -> str:
    """Tryton JSON in urlsafe base64: how REST takes domains, orders and the context."""
    return base64.urlsafe_b64encode(types.dumps(value).encode()).decode()


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValueError(
            "an application key is required: create a res.user.application for application "
            "'rest' (see docs/client.md)"
        )
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise ValueError("the application key has spaces or non-ASCII characters: not a key")
    return key


def _fail(label: str, response: httpx.Response) -> errors.RPCError:
    return errors.from_rest_status(label, response.status_code, response.text)


def _read_json(label: str, response: httpx.Response) -> Any:
    """The decoded body; None for 204 (done, but the user may not read the record)."""
    if response.status_code == 204:
        return None
    if response.status_code != 200:
        raise _fail(label, response)
    return types.loads(response.content)


_CONTENT_RANGE = re.compile(r"records (\d+)-(\d+)/(\d+|\*)")


def _read_page(offset: int, label: str, response: httpx.Response) -> Page:
    """A page and the total of `Content-Range`; 416 (past the end) is an empty page."""
    if response.status_code == 416:
        return Page([], offset, offset)
    rows = _read_json(label, response)
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
    total = match.group(3) if match else "*"
    return Page(rows, offset, None if total == "*" else int(total))


def _read_report(label: str, response: httpx.Response) -> Report:
    if response.status_code != 200:
        raise _fail(label, response)
    match = re.search(r'filename="([^"]*)"', response.headers.get("Content-Disposition", ""))
    mimetype = response.headers.get("Content-Type", "").split(";")[0] or None
    return Report(response.content, match.group(1) if match else "", mimetype)


def _next_offset(page: Page, size: int) -> int | None:
    """Where the next page starts, or None when `page` was the last one."""
    end = page.offset + len(page.rows)
    if len(page.rows) < size or (page.total is not None and end >= page.total):
        return None
    return end


class _Rest:
    """What both clients share: the server, the key (held only in the transport's headers),
    the context and language sent with every request, and how each request is built."""

    transport_class: type[HttpTransport] | type[AsyncHttpTransport] = HttpTransport

    def __init__(
        self,
        url: str,
        database: str,
        key: str,
        *,
        context: dict[str, Any] | None = None,
        language: str | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        retries: int = 2,
        max_connections: int = 10,
    ):
        url = check_url(url)
        if not database:
            raise ValueError("a database name is required: REST is served per database")
        self.transport = self.transport_class(
            url,
            database,
            timeout=timeout,
            verify=verify,
            retries=retries,
            max_connections=max_connections,
            headers={"Authorization": f"Bearer {_check_key(key)}"},
        )
        self.url, self.database = url, database
        self.context = dict(context or {})
        self.language = language
        self._base = f"{url}/{quote(database, safe='')}/rest"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, {self.database!r}, key=<hidden>)"

    def model(self, name: str, context: dict[str, Any] | None = None) -> RestModel:
        return RestModel(self, name, context)

    def report(self, name: str, record_id: int, context: dict[str, Any] | None = None):
        """Render report `name` (its `report_name`, e.g. `party.label`) for one record."""
        record_id = operator.index(record_id)
        path = f"report/{quote(name, safe='')}/{record_id}"
        return self._send(
            lambda: self._exchange("GET", path, context, read=_read_report, safe=True)
        )

    def _send(self, build: Callable[[], Exchange]) -> Any:
        """The value (RestClient) or an awaitable of it (AsyncRestClient)."""
        return self.transport.exchange(build)

    def _exchange(
        self,
        verb: str,
        path: str,
        context: dict[str, Any] | None,
        *,
        read: Callable[..., Any] = _read_json,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        safe: bool = False,
    ) -> Exchange:
        label = f"{verb} {path}"
        headers = dict(headers or {})
        merged = {**self.context, **(context or {})}
        if merged:
            headers["X-Tryton-Context"] = _b64json(merged)
        if self.language:
            headers["Accept-Language"] = self.language
        content = None
        if body is not None:
            content = types.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return Exchange(
            verb,
            f"{self._base}/{path}",
            label,
            functools.partial(read, label),
            headers,
            content,
            params or None,
            safe,
        )


def _search_params(
    domain: Domain | None, fields: list[str] | None, order: Any
) -> list[tuple[str, str]]:
    params = [("d", _b64json(domain))] if domain else []
    params += [("f", name) for name in fields or ()]
    if order:
        params.append(("o", _b64json([list(item) for item in order])))
    return params


class RestModel:
    """One model over REST, with an optional context added to every request.

    Records are dicts as the server sends them: `id`, `__name__`, the fields asked for
    (`fields`, dotted paths giving nested dicts) or the model's default ones (`rec_name`).
    """

    def __init__(self, client: _Rest, name: str, context: dict[str, Any] | None = None):
        self.client = client
        self.name = name
        self.context = dict(context or {})
        self._path = f"model/{quote(name, safe='')}"

    def __repr__(self) -> str:
        return f"RestModel({self.name!r})"

    def with_context(self, **context: Any) -> RestModel:
        return RestModel(self.client, self.name, {**self.context, **context})

    def search(
        self,
        domain: Domain | None = None,
        fields: list[str] | None = None,
        order: Any = None,
        offset: int = 0,
        limit: int | None = None,
    ):
        """Records matching `domain` (`order` as `[("name", "ASC")]`)."""
        params = _search_params(domain, fields, order)
        if limit is not None:
            params.append(("s", str(operator.index(limit))))
        if offset:
            params.append(("p", str(operator.index(offset))))
        return self._send("GET", self._path, params=params, safe=True)

    def page(
        self,
        domain: Domain | None = None,
        fields: list[str] | None = None,
        order: Any = DEFAULT_PAGE_ORDER,
        offset: int = 0,
        size: int = 100,
    ):
        """One `Page` read with `Range: records=<offset>-<offset + size>`, with the total."""
        offset, size = operator.index(offset), operator.index(size)
        if size < 1 or offset < 0:
            raise ValueError("a page needs size >= 1 and offset >= 0")
        params = _search_params(domain, fields, order)
        headers = {"Range": f"records={offset}-{offset + size}"}
        read = functools.partial(_read_page, offset)
        return self._send("GET", self._path, read=read, params=params, headers=headers, safe=True)

    def iterate(
        self,
        domain: Domain | None = None,
        fields: list[str] | None = None,
        order: Any = DEFAULT_PAGE_ORDER,
        size: int = 100,
    ):
        """Every matching record, `size` per request (an async iterator for AsyncRestClient).

        Offset paging: records created or deleted meanwhile before the current offset shift
        the following pages."""
        return self.client._pages(
            lambda offset: self.page(domain, fields, order, offset, size), size
        )

    def get(self, record_id: int, fields: list[str] | None = None):
        """One record; `NotFound` if it does not exist or the user may not read it."""
        path = f"{self._path}/{operator.index(record_id)}"
        return self._send("GET", path, params=_search_params(None, fields, None), safe=True)

    def create(self, values: dict[str, Any], fields: list[str] | None = None):
        """Create one record; its fields as read back (None if the user may not read it)."""
        params = _search_params(None, fields, None)
        return self._send("POST", self._path, params=params, body=values)

    def update(self, record_id: int, values: dict[str, Any], fields: list[str] | None = None):
        """Write `values` on one record; its fields as read back (None if not readable)."""
        path = f"{self._path}/{operator.index(record_id)}"
        return self._send("PUT", path, params=_search_params(None, fields, None), body=values)

    def delete(self, record_id: int):
        return self._send("DELETE", f"{self._path}/{operator.index(record_id)}")

    def action(self, name: str, record_id: int | None = None, /, **kwargs: Any):
        """Call `__rpc__` method `name` with keyword arguments, on the model or on one record
        (then the record is read back when the method returns nothing)."""
        path = self._path
        if record_id is not None:
            path += f"/{operator.index(record_id)}"
        return self._send("POST", f"{path}/{quote(name, safe='')}", body=kwargs)

    def _send(self, verb: str, path: str, **options: Any):
        return self.client._send(lambda: self.client._exchange(verb, path, self.context, **options))


class RestClient(_Rest):
    """Blocking REST client over one pooled httpx client; threads may share it."""

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def _pages(self, page: Callable[[int], Page], size: int) -> Iterator[dict[str, Any]]:
        offset: int | None = 0
        while offset is not None:
            current = page(offset)
            yield from current.rows
            offset = _next_offset(current, size)


class AsyncRestClient(_Rest):
    """asyncio REST client: any number of tasks share its pool of `max_connections`."""

    transport_class = AsyncHttpTransport

    async def __aenter__(self) -> AsyncRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    async def _pages(self, page: Callable[[int], Any], size: int) -> AsyncIterator[dict[str, Any]]:
        offset: int | None = 0
        while offset is not None:
            current = await page(offset)
            for row in current.rows:
                yield row
            offset = _next_offset(current, size)
