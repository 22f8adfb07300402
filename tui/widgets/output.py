"""The streamed text: reasoning (dimmed, foldable) above the answer, and an error banner."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.widgets.stream_text import StreamText


class OutputPanel(Vertical):
    DEFAULT_CSS = """
    OutputPanel {
        border: round $primary-darken-1;
        border-title-color: $text;
        height: 1fr;
    }
    OutputPanel #error { display: none; background: $error 20%; color: $text; padding: 0 1; height: auto; }
    OutputPanel.-error #error { display: block; }
    OutputPanel #reasoning { height: auto; max-height: 45%; text-style: dim; }
    OutputPanel #reasoning-fold { height: 1; color: $text-muted; }
    OutputPanel.-folded #reasoning { display: none; }
    OutputPanel #answer { height: 1fr; }
    OutputPanel.-reasoned #answer { margin-top: 1; }  /* a blank line ends the reasoning, colour or not */
    """

    _words = 0  # reasoning words so far: counted as they arrive, not by re-reading the text

    def compose(self) -> ComposeResult:
        yield Static(id="error")
        yield Static(id="reasoning-fold")
        yield StreamText(id="reasoning")
        yield StreamText(id="answer")

    def on_mount(self) -> None:
        self.border_title = "Output"
        self._fold_line()

    @property
    def reasoning(self) -> StreamText:
        return self.query_one("#reasoning", StreamText)

    @property
    def answer(self) -> StreamText:
        return self.query_one("#answer", StreamText)

    @property
    def folded(self) -> bool:
        return self.has_class("-folded")

    def toggle_fold(self) -> None:
        self.toggle_class("-folded")
        self._fold_line()

    def write(self, reasoning: str, answer: str) -> None:
        grew = bool(reasoning) and not self.reasoning.lines
        self._words += len(reasoning.split())
        self.reasoning.append(reasoning)
        self.answer.append(answer)
        if grew:
            self.add_class("-reasoned")
        if grew or (reasoning and self.folded):
            self._fold_line()

    def reset(self, title: str) -> None:
        self.border_title = f"Output — {title}"
        self.reasoning.clear()
        self.answer.clear()
        self._words = 0
        self.remove_class("-reasoned")
        self.show_error(None)
        self._fold_line()

    def show_error(self, text: str | None) -> None:
        self.set_class(text is not None, "-error")
        self.query_one("#error", Static).update(text or "")

    def _fold_line(self) -> None:
        n = self._words
        if self.folded:
            text = f"▸ reasoning folded ({n} words) — t shows it"
        elif n:
            text = "▾ reasoning — t folds it"
        else:
            text = "▾ reasoning (none yet) — t folds it"
        self.query_one("#reasoning-fold", Static).update(text)
