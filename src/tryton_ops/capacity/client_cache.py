"""The answers a Tryton client keeps for its session, as sao and the desktop client do.

trytond marks the answers of some read-only calls as cacheable (`RPC(cache=...)`: views,
toolbars, keywords, digits, symbols, default values) with an `X-Tryton-Cache: <seconds>`
header. Both real clients keep such an answer per method and exact params until it expires
and do not ask again: a user who opens the sales list a second time in a session sends no
`fields_view_get`. A simulated user that sent every recorded call on every task would ask
the server for more than a real one does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

HEADER = "X-Tryton-Cache"


def cache_seconds(value: str | None) -> int:
    """The header's lifetime; 0 (do not keep) when absent or not a number, as the clients do."""
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


class ClientCache:
    """One session's kept answers, keyed by method and params (the context included)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._store: dict[tuple[str, str], tuple[float, str]] = {}
        self.hits = 0

    @staticmethod
    def _key(method: str, params: list) -> tuple[str, str]:
        return method, json.dumps(params, sort_keys=True, separators=(",", ":"))

    def get(self, method: str, params: list) -> tuple[bool, Any]:
        """(True, a fresh copy of the answer) when kept and not expired, else (False, None)."""
        key = self._key(method, params)
        kept = self._store.get(key)
        if kept is None:
            return False, None
        expires, answer = kept
        if expires <= self._clock():
            del self._store[key]
            return False, None
        self.hits += 1
        return True, json.loads(answer)

    def put(self, method: str, params: list, seconds: int, answer: Any) -> None:
        if seconds > 0:
            self._store[self._key(method, params)] = (self._clock() + seconds, json.dumps(answer))
