"""Errors an operator can act on (the CLI prints them as `error: ...`)."""

from tryton_ops.errors import OpsError


class PerfError(OpsError):
    """A perf command cannot be done; the message says why and what to do."""
