"""The database the running stack serves: dropping or replacing it breaks every client."""

from __future__ import annotations

from tryton_ops.access.database import DatabaseError
from tryton_ops.config import LoadedConfig


def refuse_if_served(config: LoadedConfig, name: str, action: str, force: bool) -> None:
    """Raise unless `force`, when the deployment's running stack serves database `name`.

    `action` completes "refusing to ...", e.g. "drop it".
    """
    from tryton_ops.deploy.local_stack import running

    state = running(config)
    if force or state is None or state.database != name:
        return
    raise DatabaseError(
        f"database {name!r} is served by the running stack ({state.url}): refusing to {action}; "
        "`tryton-ops down` first, or pass --force to do it anyway"
    )
