"""Two lines on top: which server and model, which pattern with its settings, and is it healthy."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from backends.base import Health
from backends.runs.patterns import Pattern


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar {
        height: 2;
        background: $panel;
        padding: 0 1;
    }
    """
    _shown: tuple[object, ...] | None = None  # what the two lines show now

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pattern: Pattern | None = None
        self.url: str | None = None
        self.health: Health | None = None
        self.health_note: str | None = None
        self.status = "idle"

    def set_pattern(self, pattern: Pattern | None, url: str | None = None) -> None:
        if pattern is not self.pattern:
            self.health = None
            self.health_note = None
        self.pattern = pattern
        self.url = url or (pattern.url if pattern else None)
        self._redraw()

    def set_health(self, health: Health | None, note: str | None = None) -> None:
        self.health = health
        self.health_note = note
        self._redraw()

    def set_status(self, text: str) -> None:
        self.status = text
        self._redraw()

    def on_mount(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        p = self.pattern
        # The same figures, no repaint: status lines arrive with every step of a run.
        key = (p, self.url, self.health, self.health_note, self.status)
        if key == self._shown:
            return
        self._shown = key
        line1 = Text.assemble(("gptoss-top", "bold"), "  ")
        if p is None:
            line1.append("no pattern", style="dim")
        else:
            line1.append(p.backend, style="bold")
            line1.append(f" {self.url}  ")
            line1.append_text(self._health_text())
        line2 = Text()
        if p is not None:
            line2.append(p.model, style="bold")
            line2.append("  pattern ")
            line2.append(p.name, style="bold")
            gpu = p.gpu_layers if p.gpu_layers is not None else "default"
            line2.append(f"  ctx {p.context_length or 'default'} · gpu {gpu}")
            if p.host:  # the [hosts.NAME] it runs on (README "Remote hosts")
                line2.append(f" @ {p.host}", style="bold")
            line2.append("  │ ", style="dim")
        line2.append(self.status, style="italic")
        line1.no_wrap = line2.no_wrap = True
        line1.overflow = line2.overflow = "ellipsis"
        self.update(Text("\n").join([line1, line2]), layout=False)  # two rows, always (CSS height: 2)

    def _health_text(self) -> Text:
        if self.health_note:
            return Text(f"○ {self.health_note}", style="dim")
        h = self.health
        if h is None:
            return Text("… checking", style="dim")
        if h.ok:
            version = f" {h.version}" if h.version else ""
            return Text(f"● {h.detail or 'ok'}{version}", style="green")
        return Text(f"✖ {h.detail or 'down'}", style="bold red")
