"""The analyzer must never break a request: every hook runs under `guarded`.

Errors are counted (the count is a metric) and logged at most once a minute per process, so a
broken analyzer cannot flood the logs either.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("tryton_ops.perf")

LOG_INTERVAL_S = 60.0


class ErrorCounter:
    def __init__(self) -> None:
        self.count = 0
        self._last_log = 0.0
        self._lock = threading.Lock()

    def record(self, where: str) -> None:
        """Call from an `except` block: counts, and logs with traceback once a minute."""
        try:
            with self._lock:
                self.count += 1
                now = time.monotonic()
                if now - self._last_log < LOG_INTERVAL_S and self._last_log:
                    return
                self._last_log = now
                count = self.count
            logger.error(
                "perf analyzer error in %s (%d so far; the request was not affected)",
                where,
                count,
                exc_info=True,
            )
        except Exception:
            pass


errors = ErrorCounter()
