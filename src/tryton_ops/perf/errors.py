"""Errors an operator can act on (the CLI prints them as `error: ...`)."""

from tryton_ops.errors import OpsError, UsageError


class PerfError(OpsError):
    """A perf command cannot be done; the message says why and what to do."""


class CaptureTooLong(PerfError, UsageError):
    """Full capture asked for longer than `[perf] max_capture` (exit 2: ask for less)."""
