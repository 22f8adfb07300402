"""Byte sizes as the screen, the tables and the reports write them: one GiB formatter for all of them.

Binary units throughout (1 GiB = 2**30 bytes), as nvidia-smi, rocm-smi and macOS's Activity Monitor
count memory.
"""

from __future__ import annotations

GIB = 1 << 30
MIB = 1 << 20
KIB = 1 << 10
DASH = "—"  # an unknown figure


def gib(n: float | None, digits: int = 1, *, unit: str = " GiB", unknown: str = DASH) -> str:
    """`12.3 GiB`; `unit="G"` for a narrow column; `unknown` where the figure is None."""
    return unknown if n is None else f"{n / GIB:.{digits}f}{unit}"


def gib_pair(used: float | None, total: float | None) -> str:
    """`used/total GiB`, or the used figure alone when the total is unknown."""
    if used is None:
        return DASH
    if total is None:
        return gib(used)
    return f"{gib(used, unit='')}/{gib(total)}"


def size(n: object, *, unknown: str = "?") -> str:
    """The largest binary unit that keeps the figure at 1 or more (`1.5 GiB`, `512.0 MiB`, `300 B`)."""
    if not isinstance(n, int | float):
        return unknown
    for name, step in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if abs(n) >= step:
            return f"{n / step:.1f} {name}"
    return f"{n} B"
