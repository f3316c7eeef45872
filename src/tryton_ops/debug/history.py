"""The per-user evaluation history of databases without the ops_debug module.

With ops_debug activated, evaluations are logged in the database (`ops.debug.eval`). Without
it, in-process evaluations (`tryton-ops eval` on a config) are kept in a file per database and
login under the run directory: `<run>/eval-history/<database>/<login>.jsonl`, private (0600),
bounded to the latest MAX_ENTRIES. Entries have the shape `ops.debug.eval` returns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

MAX_ENTRIES = 500
MAX_CODE = 20_000  # characters of code kept per entry
MAX_RESULT = 2_000


def history_root(run_dir: Path) -> Path:
    return run_dir / "eval-history"


class LocalHistory:
    """One user's evaluations on one database, newest last in the file."""

    def __init__(self, root: Path, database: str, login: str):
        # quote: names become single path components whatever they contain
        self.path = root / quote(database, safe="") / f"{quote(login, safe='')}.jsonl"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # a lock file beside: the history itself is replaced on each write
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two evaluations may end at once
            yield
        finally:
            os.close(fd)

    def _read(self) -> list[dict[str, Any]]:
        entries = []
        with contextlib.suppress(FileNotFoundError):
            for line in self.path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    entries.append(json.loads(line))
        return entries

    def append(self, code: str, result: dict[str, Any]) -> None:
        error = result.get("error")
        with self._locked():
            entries = self._read()
            entries.append(
                {
                    "id": (entries[-1]["id"] + 1) if entries else 1,
                    "date": dt.datetime.now().isoformat(timespec="seconds"),
                    "code": code[:MAX_CODE],
                    "committed": bool(result.get("committed")),
                    "error": f"{error['type']}: {error['message']}"[:500] if error else None,
                    "result": (result.get("result") or "")[:MAX_RESULT],
                    "duration": result.get("duration"),
                }
            )
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.writelines(json.dumps(e) + "\n" for e in entries[-MAX_ENTRIES:])
            tmp.replace(self.path)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` evaluations, newest first (as ops.debug.eval returns them)."""
        return self._read()[::-1][: max(int(limit), 0)]
