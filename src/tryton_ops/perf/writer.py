"""The per-process buffer between requests and the store.

A request only appends a raw record to a bounded deque (or counts a drop when it is full).
A daemon thread, started lazily on the first request of each process (trytond refuses threads
at import), finishes the records, writes them in batches and polls the activations of full
capture. When the store fails, the batch is dropped and counted and writes pause for a while:
nothing ever waits on the store inside a request.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import socket
import threading
import time

from tryton_ops.perf.activation import in_range
from tryton_ops.perf.fp_key import KeyFile
from tryton_ops.perf.guard import errors
from tryton_ops.perf.metrics import Deltas
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.records import finish
from tryton_ops.perf.store import open_store

logger = logging.getLogger("tryton_ops.perf")
slow_logger = logging.getLogger("tryton_ops.perf.slow")

HOST = socket.gethostname()
BATCH = 500
ACTIVATION_POLL_S = 1.0
METRICS_PUSH_S = 1.0  # the file store rewrites its whole metrics.json at each push
BACKOFF_S = 5.0


class Counters:
    """Monotonic per-process counters (exported as metrics)."""

    def __init__(self) -> None:
        self.calls = 0
        self.written = 0
        self.dropped_full = 0
        self.dropped_store = 0
        self.store_errors = 0


class Writer:
    def __init__(self, options: PerfOptions):
        self.options = options
        self.buffer: collections.deque = collections.deque()
        self.counters = Counters()
        self.active: dict[tuple[str, int], float] = {}
        path = options.fp_key_path
        self.fp_key = KeyFile(path) if path is not None else None
        self._pid: int | None = None
        self._wake = threading.Event()
        self._stop = False
        self._store = None
        self._paused_until = 0.0
        self._active_version = object()
        self._last_poll = 0.0
        self._last_error_log = 0.0
        self.deltas = Deltas()  # metrics increments not yet added to the store
        self._pushed: dict[str, int] = {}
        self._last_push = 0.0

    # -- request path -----------------------------------------------------------------------
    def ensure_started(self) -> None:
        if self._pid != os.getpid():
            self._start()

    def submit(self, raw: dict) -> None:
        self.counters.calls += 1
        if len(self.buffer) >= self.options.buffer_size:
            self.counters.dropped_full += 1
            return
        self.buffer.append(raw)

    def is_active(self, database: str, uid: int | None) -> bool:
        if not self.active or uid is None:
            return False
        until = self.active.get((database, uid))
        return until is not None and until > time.time()

    # -- background thread -----------------------------------------------------------------
    def _start(self) -> None:
        self._pid = os.getpid()
        self.buffer.clear()  # records of the parent process are not ours to write
        self.counters = Counters()
        self.deltas = Deltas()
        self._pushed = {"perf_analyzer_errors_total:": errors.count}
        self._store = None
        thread = threading.Thread(target=self._run, name="tryton-ops-perf-writer", daemon=True)
        thread.start()
        atexit.register(self.flush_now)

    def _run(self) -> None:
        interval = self.options.flush_interval_ms / 1000
        while not self._stop:
            try:
                self._poll_activations()
                self._drain()
                self._push_metrics()
            except Exception:
                errors.record("writer")
            self._wake.wait(interval)
            self._wake.clear()

    def _get_store(self):
        if self._store is None:
            self._store = open_store(self.options)
        return self._store

    def _poll_activations(self) -> None:
        now = time.monotonic()
        if now - self._last_poll < ACTIVATION_POLL_S or now < self._paused_until:
            return
        self._last_poll = now
        try:
            store = self._get_store()
            version = store.active_version()
            if version is not None and version == self._active_version:
                return
            entries = store.load_active()
            self._active_version = version
        except Exception as exc:
            self._store_failed(exc)
            return
        active = {}
        now = time.time()
        for entry in entries:
            if not in_range(entry, now, self.options):
                continue
            try:
                active[(str(entry["db"]), int(entry["uid"]))] = float(entry["until"])
            except (KeyError, TypeError, ValueError):
                continue
        self.active = active

    def _drain(self) -> None:
        while self.buffer:
            batch = []
            while self.buffer and len(batch) < BATCH:
                batch.append(self.buffer.popleft())
            if time.monotonic() < self._paused_until:
                self.counters.dropped_store += len(batch)
                continue
            records = []
            key = self._fingerprint_key()
            for raw in batch:
                try:
                    caches = raw["_collector"].caches
                    record = finish(raw, self.options.n1_threshold, key)
                    self.deltas.observe(record, caches)
                except Exception:
                    errors.record("finish record")
                    continue
                records.append(record)
                self._log_slow(record)
            try:
                self._get_store().write(records)
                self.counters.written += len(records)
            except Exception as exc:
                self.counters.dropped_store += len(records)
                self._store_failed(exc)

    def _fingerprint_key(self) -> bytes | None:
        """The deployment's fingerprint key; None (records without `fp`) if none or unreadable."""
        if self.fp_key is None:
            return None
        try:
            return self.fp_key.current()
        except Exception:
            errors.record("fingerprint key")
            return None

    def _push_metrics(self, force: bool = False) -> None:
        """Add this process's increments (calls, drops, errors) to the store's totals."""
        now = time.monotonic()
        if now < self._paused_until or (not force and now - self._last_push < METRICS_PUSH_S):
            return
        self._last_push = now
        counters = {
            ("perf_records_dropped_total", "buffer"): self.counters.dropped_full,
            ("perf_records_dropped_total", "store"): self.counters.dropped_store,
            ("perf_store_errors_total", ""): self.counters.store_errors,
            ("perf_analyzer_errors_total", ""): errors.count,
        }
        for (name, reason), value in counters.items():
            key = f"{name}:{reason}"
            labels = {"host": HOST, "reason": reason} if reason else {"host": HOST}
            self.deltas.add(name, labels, value - self._pushed.get(key, 0))
            self._pushed[key] = value
        deltas = self.deltas.take()
        if not deltas:
            return
        try:
            self._get_store().add_metrics(deltas)
        except Exception as exc:
            self.deltas.give_back(deltas)
            self._store_failed(exc)

    def _store_failed(self, exc: Exception) -> None:
        self.counters.store_errors += 1
        self._paused_until = time.monotonic() + BACKOFF_S
        with_store = self._store
        self._store = None
        if with_store is not None:
            with contextlib.suppress(Exception):
                with_store.close()
        now = time.monotonic()
        if now - self._last_error_log > 60:
            self._last_error_log = now
            logger.warning(
                "perf store %s unavailable (%s: %s); records are dropped for %.0f s",
                self.options.store,
                type(exc).__name__,
                exc,
                BACKOFF_S,
            )

    def _log_slow(self, record: dict) -> None:
        who = record.get("login") or record.get("uid")
        if record.get("duration_ms", 0) >= self.options.slow_rpc_ms:
            slow_logger.warning(
                "slow RPC %s by %s in %.0f ms (%d SQL, %.0f ms) call %s",
                record.get("method"),
                who,
                record["duration_ms"],
                record.get("sql_count", 0),
                record.get("sql_ms", 0),
                record.get("id"),
            )
        for slow in record.get("slow_sql", ()):
            slow_logger.warning(
                "slow SQL %.0f ms in %s by %s (call %s): %s\n  at %s",
                slow["ms"],
                record.get("method"),
                who,
                record.get("id"),
                slow["shape"][:500],
                "\n  at ".join(slow["stack"][:8]),
            )

    def flush_now(self, timeout: float = 2.0) -> None:
        """Best effort at process exit: write what is buffered."""
        deadline = time.monotonic() + timeout
        try:
            if self._pid == os.getpid() and self.buffer and time.monotonic() < deadline:
                self._drain()
            if self._pid == os.getpid():
                self._push_metrics(force=True)
        except Exception:
            errors.record("flush at exit")
