"""Checks before a load test: a demo database (or --yes), scenarios of the server's series."""

from __future__ import annotations

from tryton_ops.errors import OpsError, UsageError


def is_demo_database(config, name: str) -> bool:
    """Marked by `demo load` (see capacity.marker); one this host cannot open is not a demo."""
    from tryton_ops.access.database import connect
    from tryton_ops.capacity.marker import loaded_scale

    try:
        with connect(config, name) as session:
            return loaded_scale(session) is not None
    except OpsError:
        return False


def check_target(config, database: str, confirmed: bool) -> None:
    if not confirmed and not is_demo_database(config, database):
        raise UsageError(
            f"database {database!r} is not a demo one (made by `tryton-ops demo load`) and the "
            "simulated users create sales, post invoices and change records in it; add --yes "
            "to run anyway"
        )


def server_series(url: str, timeout: float = 10.0) -> str:
    """The trytond series ("8.0") the server at `url` answers `common.server.version` with."""
    import httpx

    try:
        reply = httpx.post(
            f"{url}/rpc/",
            json={"id": 0, "method": "common.server.version", "params": []},
            timeout=timeout,
        )
        version = reply.json()["result"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise OpsError(f"no Tryton server answering at {url} ({exc})") from None
    return ".".join(str(version).split(".")[:2])


def check_series(series: str, scenarios: list) -> None:
    """Recorded ids (menus, views, actions) belong to one series: refuse the others'."""
    foreign = [
        f"{s.name} ({s.recorded.get('server', '?')})"
        for s in scenarios
        if s.recorded.get("server", "").split(" ")[-1] not in (series, "trytond")
    ]
    if foreign:
        raise UsageError(
            f"the server runs trytond {series} but these scenarios were recorded on another "
            f"series: {', '.join(foreign)}; record them on this deployment (docs/capacity.md)"
        )
