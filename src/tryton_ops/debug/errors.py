"""Errors of the debug part, with close matches for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from tryton_ops.errors import OpsError


class DebugError(OpsError):
    """A request that cannot be served as asked; the message says why and what to try."""

    def __init__(self, message: str, suggestions: Iterable[str] = ()):
        self.suggestions = list(suggestions)
        if self.suggestions:
            message += " (did you mean: " + ", ".join(self.suggestions) + "?)"
        super().__init__(message)


def close_matches(word: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Similar names, then names containing the word: both catch typical typos."""
    candidates = list(candidates)
    found = difflib.get_close_matches(word, candidates, n=n, cutoff=0.6)
    lowered = word.lower()
    for name in sorted(candidates):
        if len(found) >= n:
            break
        if lowered and lowered in name.lower() and name not in found:
            found.append(name)
    return found


def unknown(kind: str, name: str, candidates: Iterable[str]) -> DebugError:
    return DebugError(f"unknown {kind} {name!r}", close_matches(name, candidates))
