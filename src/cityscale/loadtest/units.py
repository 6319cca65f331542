"""Rates (`40000/min`, `700/s`) and durations (`60s`, `2m`, `500ms`) as the command line spells them."""

from __future__ import annotations

import re

_PER_SECOND = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|min|h)?\s*$")
_DURATION_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}


class UnitError(ValueError):
    """A rate or duration that cannot be read; the message says what was expected."""


def parse_rate(text: str) -> float:
    """Requests per second from `N/s`, `N/min` or `N/h` (a bare number means per second)."""
    count_text, _, unit = text.strip().partition("/")
    try:
        count = float(count_text.replace("_", "").replace(",", ""))
    except ValueError:
        raise UnitError(f"rate {text!r}: expected a number per unit, e.g. 40000/min or 700/s") from None
    per = _PER_SECOND.get(unit.strip().lower() or "s")
    if per is None:
        raise UnitError(f"rate {text!r}: unknown unit {unit!r}, use /s, /min or /h")
    if not count > 0:
        raise UnitError(f"rate {text!r}: must be more than zero")
    return count / per


def parse_duration(text: str) -> float:
    """Seconds from `500ms`, `60s`, `2m`, `1h` (a bare number means seconds)."""
    match = _DURATION.match(text.lower())
    if match is None:
        raise UnitError(f"duration {text!r}: expected a number with a unit, e.g. 60s, 2m or 500ms")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def parse_fraction(text: str) -> float:
    """A share from `0.1%` or `0.001` (0 to 1)."""
    stripped = text.strip()
    try:
        value = float(stripped[:-1]) / 100 if stripped.endswith("%") else float(stripped)
    except ValueError:
        raise UnitError(f"share {text!r}: expected a fraction (0.001) or a percentage (0.1%)") from None
    if not 0 <= value <= 1:
        raise UnitError(f"share {text!r}: must be between 0 and 1 (0% and 100%)")
    return value
