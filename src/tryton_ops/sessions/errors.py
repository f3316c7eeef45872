"""Errors of the sessions part."""

from tryton_ops.errors import OpsError


class StoreUnavailable(Exception):
    """Redis could not answer; callers must refuse, never accept a session unchecked."""


class SessionsError(OpsError):
    """A `tryton-ops sessions` command cannot be done; the message says why."""
