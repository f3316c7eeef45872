"""Errors of the sessions part."""


class StoreUnavailable(Exception):
    """Redis could not answer; callers must refuse, never accept a session unchecked."""


class SessionsError(Exception):
    """A `tryton-ops sessions` command cannot be done; the message says why."""
