"""Accelerators ([accel]): enabled but refused by the installed trytond, or used in a way
that does not pay. The state of each comes from `tryton_ops.accel.accel_status`."""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.accel import accel_status
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding


def check(ctx: Context, trytond_version: str | None = None) -> Iterator[Finding]:
    """`trytond_version`: the installed one unless given."""
    rows = {row["name"]: row for row in accel_status(ctx.settings, trytond_version)}
    for row in rows.values():
        if row["state"] == "refused":
            yield Finding(
                f"accel.refused.{row['name']}",
                "warning",
                f"accelerator {row['name']} is enabled but trytond {row['trytond']} is not "
                "a verified version",
                f"It is verified on {', '.join(row['verified'])}; on any other version trytond "
                "refuses it at start (one WARNING line) and runs stock.",
                "Install a verified trytond, or set it to false in [accel] until a release "
                "of tryton-ops verifies this trytond.",
            )
    view_cache, json_response = rows.get("view_cache"), rows.get("json_response")
    if view_cache and json_response and view_cache["enabled"] and not json_response["enabled"]:
        yield Finding(
            "accel.view-cache-alone",
            "info",
            "view_cache is on without json_response",
            "Cached views are immutable mappings, which stock trytond encodes with its slow "
            "pure-Python JSON path: alone, view_cache gains little (docs/accel.md).",
            "Set json_response = true in [accel] as well.",
        )
