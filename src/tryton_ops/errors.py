"""The one error base of tryton-ops: every error a user can fix carries its exit code.

The CLI catches `OpsError` once and prints `error: <message>`; a part's errors subclass it (or
`UsageError` when the user asked for something invalid), so a new error type never escapes as a
traceback because somebody forgot to list it.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2


class OpsError(Exception):
    """An operation that failed; the message says why and what to do."""

    exit_code = EXIT_FAILED


class UsageError(OpsError):
    """Invalid usage or configuration: the user can fix it by asking differently."""

    exit_code = EXIT_USAGE
