"""The accelerators tryton-ops knows: what each patches, on which trytond series it is verified.

This module imports nothing from trytond, so that the CLI (`accel list`, `status`, `doctor`) can
describe the accelerators without starting a trytond process.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from tryton_ops.config.schema import Accel, Settings


@dataclass(frozen=True)
class Accelerator:
    """One opt-in patch of one trytond hot spot."""

    name: str  # the key in `[accel]` of tryton-ops.toml and in `[ops_accel]`
    summary: str
    target: str  # what it replaces in trytond
    changes: str  # what a client can observe
    safety: str  # why it is safe
    gain: str  # measured, see docs/accel.md
    verified: tuple[str, ...]  # trytond series ("8.0") it was verified against
    apply: str  # "module:function" run inside the trytond process

    def verifies(self, version: str) -> bool:
        return series(version) in self.verified


ACCELERATORS: dict[str, Accelerator] = {
    accel.name: accel
    for accel in (
        Accelerator(
            name="json_response",
            summary="JSON-RPC responses encoded in one shot by the C encoder",
            target="trytond.protocols.jsonrpc:JSONProtocol.response",
            changes=(
                "same body bytes as stock; bodies over 1400 characters get Content-Length "
                "instead of being streamed, and Content-Encoding: gzip only when the body is "
                "gzip-compressed (stock labels uncompressed bodies gzip)"
            ),
            safety=(
                "the same JSONEncoder instance and serializers encode the same object; only "
                "the pure-Python iterencode path is replaced by CPython's C one-shot path, "
                "which produces the same text (tested byte for byte, in-process and on real "
                "stacks); non-JSON-RPC errors are still answered by trytond's own code"
            ),
            gain="party form fields_view_get 1.4x (8.2) to 3.1x (8.0) less CPU; docs/accel.md",
            verified=("8.0", "8.2"),
            apply="tryton_ops.accel.json_response:apply",
        ),
        Accelerator(
            name="view_cache",
            summary="fields_view_get of forms with sub-views really cached",
            target="trytond.cache:immutable (used by MemoryCache.set)",
            changes=(
                "none in responses; values that embed cached values (fields_view_get of "
                "forms with one2many/many2many sub-views) are stored by MemoryCache instead "
                "of being recomputed on every call"
            ),
            safety=(
                "a MappingProxyType is copied into a new immutable mapping exactly as stock "
                "copies a dict; this path only runs where stock raised TypeError and stored "
                "nothing, so nothing stock caches is stored differently; invalidation is "
                "stock's (views, translations, model changes clear the cache)"
            ),
            gain="with json_response: party form 2.5x (8.2) to 5.3x (8.0) less CPU; docs/accel.md",
            verified=("8.0", "8.2"),
            apply="tryton_ops.accel.view_cache:apply",
        ),
        Accelerator(
            name="record_init",
            summary="no quadratic re-check of a batch's ids for each record instance",
            target="trytond.model.modelstorage:ModelStorage.__init__",
            changes=(
                "none in responses; reads of many records (read, search_read, relations) "
                "stop spending O(n^2) in an assert"
            ),
            safety=(
                "stock's own __init__ compiled from its verified source (pinned by SHA-256) "
                "minus one assert line, which `python -O` skips as well; every id in the "
                "list is an int() conversion or an integer column"
            ),
            gain="search_read of 200 parties up to 1.28x less CPU (8.0); docs/accel.md",
            verified=("8.0", "8.2"),
            apply="tryton_ops.accel.record_init:apply",
        ),
    )
}


def series(version: str) -> str:
    """'8.2.1' -> '8.2'."""
    return ".".join(version.split(".")[:2])


def installed_trytond() -> str | None:
    try:
        return metadata.version("trytond")
    except metadata.PackageNotFoundError:
        return None


def enabled_names(settings: Settings) -> list[str]:
    return enabled_in(settings.accel)


def enabled_in(section: Accel) -> list[str]:
    """The accelerators an `[accel]` section switches on (in tryton-ops.toml or trytond.conf)."""
    return [name for name in ACCELERATORS if getattr(section, name)]


def accel_status(settings: Settings, trytond_version: str | None = None) -> list[dict]:
    """One row per accelerator, for `accel list`, `status` and `doctor`.

    `state` is what a trytond process started with these settings does: "on" (applied), "off"
    (not enabled), "refused" (enabled, but the installed trytond is not a verified series).
    """
    version = trytond_version or installed_trytond() or "unknown"
    rows = []
    for accel in ACCELERATORS.values():
        enabled = bool(getattr(settings.accel, accel.name))
        if not enabled:
            state = "off"
        elif accel.verifies(version):
            state = "on"
        else:
            state = "refused"
        rows.append(
            {
                "name": accel.name,
                "enabled": enabled,
                "state": state,
                "trytond": version,
                "verified": [f"{s}.x" for s in accel.verified],
                "summary": accel.summary,
                "target": accel.target,
            }
        )
    return rows
