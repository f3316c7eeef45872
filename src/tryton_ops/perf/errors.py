"""Errors an operator can act on (the CLI prints them as `error: ...`)."""


class PerfError(Exception):
    """A perf command cannot be done; the message says why and what to do."""
