"""Every key, in one modal. The list is checked against the bindings by a test."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("1-9", "select pattern 1-9 (the header follows it)"),
    ("j k ↑ ↓", "move in the pattern list"),
    ("enter", "run the selected pattern"),
    ("a", "run all patterns (a sweep; repeats from the file or --repeat)"),
    ("s  esc", "stop the stream; the partial run is recorded"),
    ("r", "rerun the last run or sweep"),
    ("t", "fold or unfold the reasoning"),
    ("m", "the answer as rendered Markdown or as raw text"),
    ("o", "show the output"),
    ("h", "show hardware: GPU, memory, loaded model"),
    ("R", "show the results of this session"),
    ("f", "fleet: every host of the pattern file side by side, how fresh each figure is"),
    ("H", "show the history: tok/s of every stored run over time"),
    ("e", "export the results as markdown, csv and json, the chart as svg"),
    ("T", "tune the selected pattern: its fastest gpu_layers, by measurement"),
    ("ctrl+r", "reload the pattern file"),
    ("ctrl+p", "command palette"),
    ("?", "this help"),
    ("q  ctrl+q", "quit (stops a server gptoss-top started)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, text in KEYS:
            table.add_row(key, text)
        with VerticalScroll() as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc closes"
            yield Static(table)
            yield Static(
                "\nTok/s is the server's own decode rate where it reports one, else the client's. "
                "Panels redraw at most 10×/s; hardware is sampled every --interval seconds.",
                classes="dim",
            )
