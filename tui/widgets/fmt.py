"""Small text helpers shared by the panels: bars that read without colour, sizes, rates."""

from __future__ import annotations

from rich.text import Text

PRESSURE_STYLE = {"normal": "green", "warn": "yellow", "critical": "bold red"}
DASH = "—"


def gib(n: int | None, digits: int = 1) -> str:
    return DASH if n is None else f"{n / 2**30:.{digits}f} GiB"


def gib_pair(used: int | None, total: int | None) -> str:
    if used is None:
        return DASH
    if total is None:
        return gib(used)
    return f"{used / 2**30:.1f}/{total / 2**30:.1f} GiB"


def num(v: float | None, fmt: str = ".1f", unit: str = "") -> str:
    return DASH if v is None else f"{v:{fmt}}{unit}"


def bar(fraction: float | None, width: int, style: str = "") -> Text:
    """A bar of full and light blocks: the level reads the same under NO_COLOR."""
    width = max(width, 1)
    if fraction is None:
        return Text("·" * width, style="dim")
    f = min(max(fraction, 0.0), 1.0)
    full = round(f * width)
    return Text.assemble(("█" * full, style), ("░" * (width - full), "dim"))


def level_style(fraction: float | None) -> str:
    if fraction is None:
        return ""
    return "red" if fraction >= 0.9 else "yellow" if fraction >= 0.75 else "green"


def pressure_text(level: str | None) -> Text:
    if level is None:
        return Text(DASH, style="dim")
    return Text(level, style=PRESSURE_STYLE.get(level, ""))
