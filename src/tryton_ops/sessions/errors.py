"""Errors of the sessions part."""

from tryton_ops.errors import OpsError


class SessionsError(OpsError):
    """A `tryton-ops sessions` command cannot be done; the message says why."""
