"""The fleet view: every host of the pattern file side by side — memory and pressure, GPU memory and
utilisation, the pattern running there, and how fresh each figure is.

Rows come from `HostSamplers.views()` (backends.probes.remote); a host whose reads fail keeps its last
figures, marked stale with their age and the error. Redrawn at the sampling interval, never per token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from backends.probes.remote import HostView
from tui.widgets.fmt import DASH, bar, gib_pair, level_style, num, pressure_text

BAR = 10


def _frac(used: int | None, total: int | None) -> float | None:
    return None if used is None or not total else used / total


def _age(view: HostView) -> Text:
    # The source is on the same line already: the error without it.
    error = view.error.removeprefix(f"{view.source}: ") if view.error else None
    if view.snapshot is None:
        if error is None:
            return Text("waiting for the first reading", style="dim")
        return Text(f"no reading: {error}", style="red")
    if not view.stale:
        return Text("fresh", style="green")
    age = DASH if view.age_s is None else f"{view.age_s:.0f} s old"
    t = Text(f"stale, {age}", style="yellow")
    if error:
        t.append(f": {error}", style="red")
    return t


def host_text(view: HostView, pattern: str | None = None) -> Text:
    """One host: a title line, memory, each GPU, what runs there."""
    t = Text()
    t.append(view.name, style="bold")
    t.append(f"  {view.source}  ", style="dim")
    t.append_text(_age(view))
    snap = view.snapshot
    if snap is not None:
        host, apple = snap.host, snap.apple
        total = host.mem_total_bytes if host else (apple.memsize_bytes if apple else None)
        used = snap.ram_used_bytes
        frac = _frac(used, total)
        t.append("\n  mem  ", style="dim")
        t.append_text(bar(frac, BAR, level_style(frac)))
        t.append(f" {gib_pair(used, total)}  ")
        t.append("pressure ", style="dim")
        t.append_text(pressure_text(snap.pressure))
        swap_total = host.swap_total_bytes if host else None
        t.append("  swap ", style="dim")
        t.append(gib_pair(snap.swap_used_bytes, swap_total))
        for g in snap.gpus:
            gfrac = _frac(g.mem_used_bytes, g.mem_total_bytes)
            t.append(f"\n  GPU{g.index} ", style="dim")
            t.append_text(bar(gfrac, BAR, level_style(gfrac)))
            t.append(f" {gib_pair(g.mem_used_bytes, g.mem_total_bytes)}  ")
            t.append("util ", style="dim")
            t.append(num(g.util_percent, ".0f", "%"))
            t.append(f"  {g.name or g.vendor}", style="dim")
        if not snap.gpus:
            t.append("\n  no GPU reported", style="dim")
        for note in snap.notes:
            t.append(f"\n  {note}", style="dim")
    t.append("\n  running ", style="dim")
    t.append(pattern or DASH, style="bold" if pattern else "dim")
    return t


def fleet_text(views: Sequence[HostView], running: Mapping[str, str] | None = None) -> Text:
    if not views:
        return Text('no hosts: add [hosts.NAME] tables to the pattern file (README "Remote hosts")', style="dim")
    running = running or {}
    out = Text()
    for n, view in enumerate(views):
        if n:
            out.append("\n\n")
        out.append_text(host_text(view, running.get(view.name)))
    return out


class FleetPanel(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    FleetPanel { height: 1fr; }
    FleetPanel > Static { border: round $primary-darken-1; height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(fleet_text([]), id="fleet")

    def on_mount(self) -> None:
        self.query_one("#fleet").border_title = "Fleet"

    def show(self, views: Sequence[HostView], running: Mapping[str, str] | None = None) -> None:
        self.query_one("#fleet", Static).update(fleet_text(views, running))
