"""Small text helpers shared by the panels: bars that read without colour, rates; sizes from backends.units."""

from __future__ import annotations

from rich.text import Text

from backends.units import DASH, gib, gib_pair

__all__ = ["DASH", "PRESSURE_STYLE", "bar", "gib", "gib_pair", "level_style", "num", "pressure_text"]

PRESSURE_STYLE = {"normal": "green", "warn": "yellow", "critical": "bold red"}


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
