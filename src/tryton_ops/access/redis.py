"""The one way tryton-ops reaches a Redis: a redis-py client from a `RedisSpec`, one client per
process, and one error, `RedisUnavailable`, that names the (masked) URI and what to check.

The cache and the sessions import this inside trytond workers: it imports no part, nothing of
pydantic, and redis-py only when a client is built or an error is translated.

No automatic retries unless a caller asks for them: the cache has its breaker, the sessions
refuse at once (HTTP 503), and a probe wants its answer within its own timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from tryton_ops.config.masking import MASK, mask_uri
from tryton_ops.config.redis_spec import RedisSpec
from tryton_ops.errors import OpsError

if TYPE_CHECKING:
    import redis

__all__ = [
    "ForkSafeRedis",
    "RedisSpec",
    "RedisUnavailable",
    "connect",
    "delete_prefixed",
    "glob_escape",
    "translate_errors",
]

T = TypeVar("T")
RETRY_BACKOFF = (0.05, 1.0)  # seconds: first wait and cap of the exponential backoff


class RedisUnavailable(OpsError):
    """Redis could not be used: down, too slow, TLS or password refused, or an error reply.

    `reason` says what happened, `hint` what to check; the URI is masked and the password
    never appears. The cache bypasses Redis on it, the sessions refuse the call.
    """

    def __init__(self, uri: str, reason: str, hint: str):
        self.uri = mask_uri(uri)
        self.reason = reason
        self.hint = hint
        super().__init__(f"Redis at {self.uri} is unavailable: {reason}; {hint}")

    @property
    def detail(self) -> str:
        """The message without the URI (for views that show the URI beside it)."""
        return f"{self.reason}; {self.hint}"


def connect(spec: RedisSpec, retries: int = 0) -> redis.Redis:
    """A redis-py client for `spec` (it connects on first use); `retries` > 0 retries a
    command that lost its connection or timed out, with a short exponential backoff."""
    import redis
    from redis.backoff import ExponentialBackoff, NoBackoff
    from redis.retry import Retry

    backoff = ExponentialBackoff(cap=RETRY_BACKOFF[1], base=RETRY_BACKOFF[0])
    kwargs: dict[str, Any] = {
        "socket_timeout": spec.socket_timeout,
        "socket_connect_timeout": spec.connect_timeout,
        "retry": Retry(backoff if retries else NoBackoff(), retries),
        "health_check_interval": 0,
    }
    if urlsplit(spec.uri).scheme == "rediss" and spec.tls_ca_file:
        kwargs["ssl_ca_certs"] = spec.tls_ca_file
    return redis.Redis.from_url(spec.uri, **kwargs)


@contextlib.contextmanager
def translate_errors(spec: RedisSpec) -> Iterator[None]:
    """Turn redis-py's and the socket's errors inside the block into `RedisUnavailable`."""
    import redis

    try:
        yield
    except (redis.RedisError, OSError) as exc:
        raise unavailable(spec, exc) from None


def unavailable(spec: RedisSpec, exc: BaseException) -> RedisUnavailable:
    """The `RedisUnavailable` for an error redis-py (or the socket) raised talking to `spec`."""
    reason = _scrub(f"{type(exc).__name__}: {exc}", spec.uri).rstrip(". ")
    return RedisUnavailable(spec.uri, reason, _hint(spec, exc))


def _hint(spec: RedisSpec, exc: BaseException) -> str:
    import redis

    text = str(exc)
    if isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text:
        return "check the password in the URI"
    if "SSL" in text or "certificate" in text:
        if spec.tls_ca_file:
            return f"check that {spec.tls_ca_file} (tls_ca_file) holds the server's CA"
        return "check TLS: set tls_ca_file to the CA that signed the server's certificate"
    if isinstance(exc, (redis.TimeoutError, TimeoutError)):
        return (
            f"no answer within {spec.socket_timeout}s: check that Redis runs, is reachable "
            "and not overloaded"
        )
    if isinstance(exc, (redis.ConnectionError, OSError)):
        return "check that Redis runs and listens at that address"
    return "Redis answered with an error: check its log, its memory limit and that it is a primary"


def _scrub(text: str, uri: str) -> str:
    """Error texts do not hold the password; this makes sure of it."""
    parts = urlsplit(uri)
    secrets = [parts.password, *parse_qs(parts.query).get("password", [])]
    for secret in filter(None, secrets):
        text = text.replace(secret, MASK)
    return text


class ForkSafeRedis:
    """The client of one Redis for this process: built on first use, built anew in a child
    after fork (a child must never share the parent's sockets), thread-safe.

    `scripts` are Lua sources registered with each new client, fetched with `script(name)`.
    """

    def __init__(self, spec: RedisSpec, retries: int = 0, scripts: Mapping[str, str] | None = None):
        self.spec = spec
        self.retries = retries
        self._sources = dict(scripts or {})
        self._client: redis.Redis | None = None
        self._pid: int | None = None
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()
        _holders.add(self)

    def client(self) -> redis.Redis:
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    # the parent's client is dropped, never closed: closing would shut down
                    # sockets the parent still uses
                    client = connect(self.spec, self.retries)
                    self._scripts = {
                        name: client.register_script(source)
                        for name, source in self._sources.items()
                    }
                    self._client, self._pid = client, os.getpid()
        return self._client

    def script(self, name: str):
        """The registered Lua script `name`, bound to this process's client."""
        self.client()
        return self._scripts[name]

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()`, with any Redis or socket error raised as `RedisUnavailable`."""
        with translate_errors(self.spec):
            return fn()

    def close(self) -> None:
        """Close this process's client (a client inherited through fork is left alone)."""
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it


def glob_escape(text: str) -> str:
    """`text` matched literally in a SCAN/KEYS pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def delete_prefixed(client: redis.Redis, prefix: str, batch: int = 500) -> int:
    """Delete every key starting with `prefix` (SCAN, then UNLINK in batches); returns how many.

    For what belongs to a dropped database: its keys share a prefix, and SCAN keeps Redis
    answering the workers meanwhile.
    """
    pattern = glob_escape(prefix) + "*"
    deleted = 0
    found: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=1000):
        found.append(key)
        if len(found) >= batch:
            deleted += client.unlink(*found)
            found = []
    if found:
        deleted += client.unlink(*found)
    return deleted


_holders: weakref.WeakSet[ForkSafeRedis] = weakref.WeakSet()


def _reset_locks_in_child() -> None:
    for holder in list(_holders):
        holder._after_fork()


os.register_at_fork(after_in_child=_reset_locks_in_child)
