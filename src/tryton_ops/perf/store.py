"""Where records go: a Redis stream, or bounded local files. Both bounded by count and age.

Only the background writer (`writer.Writer`) and the CLI touch a store, never a request.
Records are JSON (never pickle). Activations of full capture live beside the records:
a Redis hash, or `active.json` in the store directory, so every worker sees them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from tryton_ops.access.redis import ForkSafeRedis, translate_errors
from tryton_ops.perf.errors import PerfError
from tryton_ops.perf.metrics import MAX_SERIES
from tryton_ops.perf.options import PerfOptions

SEGMENTS = 10
AGE_CHECK_S = 30.0


class StoreError(PerfError):
    """The store cannot be read or written; the message says which and why."""


def open_store(options: PerfOptions) -> FileStore | RedisStore:
    if options.store == "redis":
        return RedisStore(options)
    return FileStore(options)


def _dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"), default=str)


class FileStore:
    """JSON-lines segments in `<run>/perf/calls/`; many processes append under a file lock.

    A segment holds `max_records / SEGMENTS` records; only the newest SEGMENTS segments are kept
    (so at most `max_records`), and whole segments older than `max_age` are removed.
    """

    kind = "file"

    def __init__(self, options: PerfOptions):
        self.options = options
        self.root = options.path
        self.calls = self.root / "calls"
        self.per_segment = max(10, options.max_records // SEGMENTS)
        self._last_age_check = 0.0

    def _ensure(self) -> None:
        self.calls.mkdir(parents=True, exist_ok=True, mode=0o700)

    @contextlib.contextmanager
    def _locked(self):
        self._ensure()
        fd = os.open(self.calls / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _state(self) -> dict:
        try:
            return json.loads((self.calls / "state.json").read_text())
        except (OSError, ValueError):
            return {"seq": 0, "count": 0}

    def _segment(self, seq: int) -> Path:
        return self.calls / f"{seq:09d}.jsonl"

    def segments(self) -> list[Path]:
        if not self.calls.is_dir():
            return []
        return sorted(self.calls.glob("*.jsonl"))

    def write(self, records: list[dict]) -> None:
        with self._locked():
            state = self._state()
            pending = list(records)
            while pending:
                room = self.per_segment - state["count"]
                if room <= 0:
                    state = {"seq": state["seq"] + 1, "count": 0}
                    continue
                chunk, pending = pending[:room], pending[room:]
                fd = os.open(
                    self._segment(state["seq"]), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600
                )
                data = "".join(_dumps(r) + "\n" for r in chunk)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = "\n" + data  # end a line torn by a crashed writer
                with os.fdopen(fd, "a") as fh:
                    fh.write(data)
                state["count"] += len(chunk)
            tmp = self.calls / "state.json.tmp"
            tmp.write_text(json.dumps(state))
            tmp.replace(self.calls / "state.json")
            self._trim(state["seq"])

    def _trim(self, current: int) -> None:
        now = time.time()
        check_age = now - self._last_age_check > AGE_CHECK_S
        if check_age:
            self._last_age_check = now
        for path in self.segments():
            seq = int(path.stem)
            too_many = seq <= current - SEGMENTS
            too_old = check_age and path.stat().st_mtime < now - self.options.max_age_s
            if too_many or too_old:
                path.unlink(missing_ok=True)

    def read(self, since: float | None = None, until: float | None = None) -> Iterator[dict]:
        """Records in write order, within the retention age and the time window."""
        oldest = time.time() - self.options.max_age_s
        since = max(since or 0, oldest)
        for path in self.segments():
            try:
                if path.stat().st_mtime < since:
                    continue
                lines = path.read_text().splitlines()
            except OSError:
                continue  # removed by a writer meanwhile
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn line from a crashed writer
                ts = record.get("ts", 0)
                if ts >= since and (until is None or ts <= until):
                    yield record

    def count(self) -> int:
        return sum(1 for _ in self.read())

    # -- activations ------------------------------------------------------------------------
    @property
    def active_path(self) -> Path:
        return self.root / "active.json"

    def active_version(self) -> float | None:
        try:
            return self.active_path.stat().st_mtime_ns
        except OSError:
            return None

    def load_active(self) -> list[dict]:
        try:
            data = json.loads(self.active_path.read_text())
        except (OSError, ValueError):
            return []
        return [entry for entry in data if isinstance(entry, dict)]

    def update_active(self, change) -> list[dict]:
        """Apply `change(entries) -> entries` atomically (file lock, then rename)."""
        with self._locked():
            entries = change(self.load_active())
            tmp = self.root / f"active.json.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(entries))
            tmp.replace(self.active_path)
        return entries

    # -- metrics ----------------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.json"

    def load_metrics(self) -> dict[str, float]:
        try:
            data = json.loads(self.metrics_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def add_metrics(self, deltas: dict[str, float]) -> None:
        """Add the increments of one writer (file lock, then rename); reset past MAX_SERIES."""
        if not deltas:
            return
        with self._locked():
            totals = self.load_metrics()
            if len(totals) > MAX_SERIES:
                totals = {}
            for key, amount in deltas.items():
                totals[key] = totals.get(key, 0) + amount
            tmp = self.root / f"metrics.json.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(totals))
            tmp.replace(self.metrics_path)

    def close(self) -> None:
        pass


class RedisStore:
    """A capped Redis stream `<prefix>:calls` (MAXLEN max_records, MINID now - max_age)."""

    kind = "redis"

    def __init__(self, options: PerfOptions):
        self.options = options
        self.key = f"{options.prefix}:calls"
        self.active_key = f"{options.prefix}:active"
        self.metrics_key = f"{options.prefix}:metrics"
        # one retry: a connection Redis dropped (restart, idle timeout) is made again once,
        # and a write still ends within a few timeouts
        self.redis = ForkSafeRedis(options.redis, retries=1)
        self._last_age_check = 0.0

    @property
    def client(self):
        return self.redis.client()

    def write(self, records: list[dict]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for record in records:
            pipe.xadd(
                self.key,
                {"r": _dumps(record)},
                maxlen=self.options.max_records,
                approximate=False,  # exact: a few records a second, the bound is a promise
            )
        now = time.time()
        if now - self._last_age_check > AGE_CHECK_S:
            self._last_age_check = now
            minid = int((now - self.options.max_age_s) * 1000)
            pipe.xtrim(self.key, minid=minid, approximate=False)
        pipe.execute()

    def read(self, since: float | None = None, until: float | None = None) -> Iterator[dict]:
        oldest = time.time() - self.options.max_age_s
        since = max(since or 0, oldest)
        # stream ids are write times, never before the call started: a lower bound only
        start = str(int(since * 1000))
        end = "+"
        while True:
            batch = self.client.xrange(self.key, min=start, max=end, count=1000)
            if not batch:
                return
            for _entry_id, fields in batch:
                try:
                    record = json.loads(fields[b"r"])
                except (KeyError, ValueError):
                    continue
                ts = record.get("ts", 0)
                if ts >= since and (until is None or ts <= until):
                    yield record
            last = batch[-1][0].decode()
            start = "(" + last
            if len(batch) < 1000:
                return

    def count(self) -> int:
        return int(self.client.xlen(self.key))

    def active_version(self) -> None:
        return None  # always reload: one HGETALL per poll

    def load_active(self) -> list[dict]:
        entries = []
        for value in self.client.hgetall(self.active_key).values():
            with contextlib.suppress(ValueError):
                entries.append(json.loads(value))
        return entries

    def update_active(self, change) -> list[dict]:
        """Apply `change(entries) -> entries` (WATCH/MULTI: safe against concurrent CLIs)."""
        import redis

        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.active_key)
                    entries = []
                    for value in pipe.hgetall(self.active_key).values():
                        with contextlib.suppress(ValueError):
                            entries.append(json.loads(value))
                    entries = change(entries)
                    pipe.multi()
                    pipe.delete(self.active_key)
                    for entry in entries:
                        field = f"{entry['db']}:{entry['uid']}"
                        pipe.hset(self.active_key, field, json.dumps(entry))
                    pipe.execute()
                    return entries
                except redis.WatchError:
                    continue

    def load_metrics(self) -> dict[str, float]:
        return {
            key.decode(): float(value)
            for key, value in self.client.hgetall(self.metrics_key).items()
        }

    def add_metrics(self, deltas: dict[str, float]) -> None:
        """HINCRBYFLOAT per series, one round trip; reset past MAX_SERIES."""
        if not deltas:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.hlen(self.metrics_key)
        for key, amount in deltas.items():
            pipe.hincrbyfloat(self.metrics_key, key, amount)
        if pipe.execute()[0] > MAX_SERIES:
            self.client.delete(self.metrics_key)

    def close(self) -> None:
        self.redis.close()


@contextlib.contextmanager
def store_errors(options: PerfOptions):
    """CLI-side store access: a Redis it cannot use is `RedisUnavailable`, a file it cannot
    read or write a StoreError naming the directory."""
    if options.store == "redis":
        with translate_errors(options.redis):
            yield
        return
    try:
        yield
    except OSError as exc:
        raise StoreError(f"perf store {options.directory}: {exc.strerror or exc}") from None
