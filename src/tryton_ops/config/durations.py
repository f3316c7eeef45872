"""Human durations (`30m`, `7d`, `90s`, `1h30m`) for config keys and CLI options."""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str | int | float) -> int:
    """Seconds in `text`; a bare number is seconds. Raises ValueError with the accepted form."""
    if isinstance(text, int | float):
        seconds = int(text)
    else:
        value = text.strip().lower()
        if value.isdigit():
            seconds = int(value)
        else:
            parts = _PART.findall(value)
            if not parts or "".join(n + u for n, u in parts) != value:
                raise ValueError(
                    f"invalid duration {text!r}: use a number of seconds or units s/m/h/d/w, "
                    "e.g. 30m, 7d, 1h30m"
                )
            seconds = sum(int(n) * UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, UNITS[unit])
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
