"""GPU, memory and loaded-model panels, drawn from the sampler's latest snapshot.

They redraw once per sampler interval (1 s by default), not per token. Every figure may be unknown
(None): it shows as a dash, never as 0.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from backends.base import LoadedModel
from backends.probes.model import Snapshot
from tui.widgets.fitbar import FitBar, fit_text
from tui.widgets.fmt import DASH, bar, gib, gib_pair, level_style, num, pressure_text

BAR = 14


def _frac(used: int | float | None, total: int | float | None) -> float | None:
    if used is None or not total:
        return None
    return used / total


def gpu_text(snapshot: Snapshot | None) -> Text:
    if snapshot is None:
        return Text("sampling…", style="dim")
    gpus = snapshot.gpus
    if not gpus:
        # A remote host that never answered has no figures at all: not the same as "no GPU".
        unread = snapshot.host is None and snapshot.apple is None and bool(snapshot.errors)
        t = Text("no reading from this host" if unread else "no GPU detected", style="bold")
        for note in snapshot.notes:
            t.append(f"\n{note}", style="dim")
        for err in snapshot.errors:  # a remote host that does not answer says why here too
            t.append(f"\n{err}", style="red")
        return t
    t = Text()
    for n, g in enumerate(gpus):
        if n:
            t.append("\n")
        t.append(f"GPU {g.index} ", style="bold")
        t.append(g.name or g.vendor)
        t.append(f"  {g.source}\n", style="dim")
        util = None if g.util_percent is None else g.util_percent / 100
        t.append("util ", style="dim")
        t.append_text(bar(util, BAR, level_style(util)))
        t.append(f" {num(g.util_percent, '.0f', '%')}\n")
        used, total = g.mem_used_bytes, g.mem_total_bytes
        frac = _frac(used, total)
        t.append("VRAM " if not g.unified else "mem  ", style="dim")
        t.append_text(bar(frac, BAR, level_style(frac)))
        t.append(f" {gib_pair(used, total)}")
        if g.unified:
            t.append(" (unified)", style="dim")
        if g.gtt_used_bytes:
            t.append(f"\nGTT  {gib_pair(g.gtt_used_bytes, g.gtt_total_bytes)}", style="dim")
        t.append("\npower ", style="dim")
        t.append(num(g.power_w, ".0f", " W"))
        t.append("  temp ", style="dim")
        t.append(num(g.temperature_c, ".0f", " °C"))
    for err in snapshot.errors:
        t.append(f"\n{err}", style="red")
    return t


def memory_text(snapshot: Snapshot | None) -> Text:
    if snapshot is None:
        return Text("sampling…", style="dim")
    host = snapshot.host
    apple = snapshot.apple
    t = Text()
    total = host.mem_total_bytes if host else (apple.memsize_bytes if apple else None)
    used = host.mem_used_bytes if host else None
    frac = _frac(used, total)
    t.append("RAM  " if apple is None else "unified ", style="dim")
    t.append_text(bar(frac, BAR, level_style(frac)))
    t.append(f" {gib_pair(used, total)}\n")
    t.append("pressure ", style="dim")
    t.append_text(pressure_text(snapshot.pressure))
    swap_total = (host.swap_total_bytes if host else None) or (apple.swap_total_bytes if apple else None)
    t.append("  swap ", style="dim")
    t.append(gib_pair(snapshot.swap_used_bytes, swap_total))
    if apple is not None:
        t.append("\nwired ", style="dim")
        t.append(gib(apple.wired_bytes))
        t.append("  compressed ", style="dim")
        t.append(gib(apple.compressed_bytes))
    if host is not None and (host.psi_some_avg10 is not None or host.psi_full_avg10 is not None):
        t.append("\nPSI avg10 ", style="dim")
        t.append(f"some {num(host.psi_some_avg10, '.1f', '%')} full {num(host.psi_full_avg10, '.1f', '%')}")
    if host is not None and host.backend_pid is not None:
        # Two lines of their own: as one (~44 columns) it wrapped in the roomy layout's panel, mid-figure,
        # and a wrapped line changes the panel's shape, so every sample cost a layout pass of the screen.
        t.append(f"\n{host.backend_name or 'server'} ", style="dim")
        t.append(f"pid {host.backend_pid}")
        t.append("\nRSS ", style="dim")
        t.append(gib(host.backend_rss_bytes))
        if host.backend_cpu_percent is not None:
            t.append("  CPU ", style="dim")
            t.append(f"{host.backend_cpu_percent:.0f}%")
    return t


def model_text(loaded: list[LoadedModel] | None, note: str | None = None) -> Text:
    if note:
        return Text(note, style="dim")
    if loaded is None:
        return Text("asking the server…", style="dim")
    if not loaded:
        return Text("nothing loaded (the server says)", style="dim")
    t = Text()
    for n, m in enumerate(loaded):
        if n:
            t.append("\n")
        t.append(m.name, style="bold")
        t.append("\nctx ", style="dim")
        t.append(DASH if m.context_length is None else str(m.context_length))
        t.append("  size ", style="dim")
        t.append(gib(m.size_bytes))
        t.append("  VRAM ", style="dim")
        t.append(gib(m.vram_bytes))
        if m.gpu_layers is not None:
            t.append("  layers ", style="dim")
            t.append(str(m.gpu_layers))
        if m.detail:
            t.append(f"\n{m.detail}", style="dim")
    return t


class Figures(Static):
    """A Static that skips the layout pass when its new text has the same shape.

    A layout pass of the whole screen once a second was most of what a visible panel cost at idle;
    figures that change but keep their line count and fit the width need only a repaint.
    """

    _last: Text | None = None

    def show(self, text: Text) -> None:
        last, self._last = self._last, text
        if last is not None and text.plain == last.plain and text.spans == last.spans:
            return
        width = self.content_region.width
        same_shape = (
            last is not None
            and width > 0
            and text.plain.count("\n") == last.plain.count("\n")
            and all(len(line) <= width for line in text.plain.split("\n"))
        )
        self.update(text, layout=not same_shape)


class HardwarePanel(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    HardwarePanel { height: 1fr; }
    HardwarePanel > Static { border: round $primary-darken-1; height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Figures(gpu_text(None), id="gpu")
        yield Figures(memory_text(None), id="memory")
        yield Static(model_text(None), id="model")
        yield FitBar(fit_text(None), id="fit")

    def on_mount(self) -> None:
        self.query_one("#gpu").border_title = "GPU"
        self.query_one("#memory").border_title = "Memory"
        self.query_one("#model").border_title = "Loaded model"
        self.query_one("#fit").border_title = "Fit of the pattern"

    _host: str | None = None

    def set_host(self, host: str | None) -> None:
        """Name the machine the figures come from in the titles (README "Remote hosts")."""
        if host != self._host:
            self._host = host
            where = f" · {host}" if host else ""
            self.query_one("#gpu").border_title = f"GPU{where}"
            self.query_one("#memory").border_title = f"Memory{where}"

    def show_snapshot(self, snapshot: Snapshot | None) -> None:
        self.query_one("#gpu", Figures).show(gpu_text(snapshot))
        self.query_one("#memory", Figures).show(memory_text(snapshot))

    def show_loaded(self, loaded: list[LoadedModel] | None, note: str | None = None) -> None:
        self.query_one("#model", Static).update(model_text(loaded, note))

    def show_fit(self, est: Any | None, loaded: tuple[int | None, int | None] | None = None) -> None:
        """The selected pattern's fit estimate; `loaded`: what the server said after its run."""
        self.query_one("#fit", FitBar).show(est, loaded)
