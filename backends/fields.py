"""Reading fields of decoded JSON: one meaning per name, shared by the adapters and the remote probes.

Servers leave figures out, send `null`, send 0 for "not measured" or a bool where a number belongs.
Each helper answers None for anything that is not the kind of value its name says.
"""

from __future__ import annotations

from typing import Any


def obj(v: Any) -> dict[str, Any]:
    """A JSON object, or {} for anything else (so `.get` chains never fail)."""
    return v if isinstance(v, dict) else {}


def text(v: Any) -> str | None:
    """A string with something in it, without the whitespace around it."""
    return v.strip() if isinstance(v, str) and v.strip() else None


def count(v: Any) -> int | None:
    """A whole number ≥ 0: a token count or a byte size, where 0 is a known 0."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def positive_int(v: Any) -> int | None:
    """A whole number > 0: a context length, or a figure a server sends as 0 when it did not measure it."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def number(v: Any) -> float | None:
    """Any JSON number, as a float."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def positive(v: float | None) -> float | None:
    """A rate or a time that was measured: 0 or less from a server means unknown, not 0 tok/s."""
    return v if v is not None and v > 0 else None
