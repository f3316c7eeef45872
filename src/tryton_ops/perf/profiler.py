"""Optional sampling profile of fully captured calls (pyinstrument), stored as speedscope JSON.

Only for users under full capture and only with `[perf] profile = true`: sampling costs too
much to run for everybody. The profiler runs in the request's thread while trytond handles the
call; the session is turned into speedscope JSON by the writer thread, off the request path,
so `tryton-ops perf export --speedscope` needs no pyinstrument where it runs.
Without pyinstrument the call is recorded as usual, with `profile_error` saying why.
"""

from __future__ import annotations

import json
import logging
import time

logger = logging.getLogger("tryton_ops.perf")

MISSING = "pyinstrument is not installed (pip install 'tryton-ops[profile]')"
_warned = 0.0


def start(interval_ms: int):
    """A started profiler, or the reason there is none (a str)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        _warn_missing()
        return MISSING
    profiler = Profiler(interval=interval_ms / 1000, async_mode="disabled")
    profiler.start()
    return profiler


def stop(profiler):
    """The finished session (or the reason there is none)."""
    if isinstance(profiler, str):
        return profiler
    return profiler.stop()


def _warn_missing() -> None:
    global _warned
    now = time.monotonic()
    if not _warned or now - _warned > 60:
        _warned = now
        logger.warning("perf.profile is on but %s; calls are recorded without profile", MISSING)


def speedscope(session) -> dict:
    """The speedscope document (https://www.speedscope.app/file-format-schema.json)."""
    from pyinstrument.renderers import SpeedscopeRenderer

    return json.loads(SpeedscopeRenderer().render(session))
