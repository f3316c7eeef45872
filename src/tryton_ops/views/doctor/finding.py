"""A doctor finding."""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    code: str  # stable identifier, e.g. "cache.stale-multiworker"
    severity: str  # error | warning | info
    title: str
    explanation: str
    fix: str

    def as_dict(self) -> dict:
        return asdict(self)
