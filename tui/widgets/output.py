"""The streamed text: reasoning (plain, dimmed, foldable) above the answer, and an error banner.

The answer renders as Markdown while it streams (gpt-oss answers in headings, lists, tables and code):
text reaches the panel at most ten times a second (the screen's flush), and Textual's MarkdownStream
joins whatever arrives while an append is still being laid out into the next one, so a fast model
never queues up work. The raw text is kept beside it in a StreamText; `toggle_raw` shows that instead.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

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
    OutputPanel #answer-raw { display: none; height: 1fr; }
    OutputPanel #answer { height: 1fr; scrollbar-size-vertical: 1; }
    OutputPanel #answer Markdown { padding: 0; margin: 0; }
    OutputPanel.-raw #answer-raw { display: block; }
    OutputPanel.-raw #answer { display: none; }
    /* a blank line ends the reasoning, colour or not */
    OutputPanel.-reasoned #answer, OutputPanel.-reasoned #answer-raw { margin-top: 1; }
    """

    _words = 0  # reasoning words so far: counted as they arrive, not by re-reading the text
    _mid_word = False  # the reasoning so far ends inside a word
    _stream: MarkdownStream | None = None

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._held: list[str] = []  # answer text that came while the raw view was shown

    def compose(self) -> ComposeResult:
        yield Static(id="error")
        yield Static(id="reasoning-fold")
        yield StreamText(id="reasoning")
        with VerticalScroll(id="answer", can_focus=False):
            yield Markdown(id="answer-md", open_links=False)
        yield StreamText(id="answer-raw")

    def on_mount(self) -> None:
        self.border_title = "Output"
        self._fold_line()
        self.answer_box.anchor()  # the view follows the answer as it grows (until the user scrolls up)
        self._stream = Markdown.get_stream(self.markdown)

    @property
    def reasoning(self) -> StreamText:
        return self.query_one("#reasoning", StreamText)

    @property
    def answer(self) -> StreamText:
        """The answer's raw text (what arrived, unrendered); shown when the view is raw."""
        return self.query_one("#answer-raw", StreamText)

    @property
    def markdown(self) -> Markdown:
        return self.query_one("#answer-md", Markdown)

    @property
    def answer_box(self) -> VerticalScroll:
        """The scrolling box the rendered answer lives in."""
        return self.query_one("#answer", VerticalScroll)

    @property
    def folded(self) -> bool:
        return self.has_class("-folded")

    @property
    def raw(self) -> bool:
        return self.has_class("-raw")

    def toggle_fold(self) -> None:
        self.toggle_class("-folded")
        self._fold_line()

    def toggle_raw(self) -> None:
        self.toggle_class("-raw")
        if self.raw:
            self.answer.scroll_end(animate=False, immediate=True, x_axis=False)
            return
        if self._held:  # what arrived while the raw text was shown, rendered in one append
            self.call_later(self._write_markdown, "".join(self._held))
            self._held = []
        self.answer_box.scroll_end(animate=False, immediate=True, x_axis=False)

    def write(self, reasoning: str, answer: str) -> None:
        grew = bool(reasoning) and not self.reasoning.lines
        if reasoning:
            words = len(reasoning.split())
            if words and self._mid_word and not reasoning[0].isspace():
                words -= 1  # the first word goes on from the last batch: counted there already
            self._words += words
            self._mid_word = not reasoning[-1].isspace()
        self.reasoning.append(reasoning)
        if answer:
            self.answer.append(answer)
            if self.raw:
                self._held.append(answer)  # no Markdown work while nobody looks at it
            else:
                # Through this widget's message queue, so the order of writes and resets is kept.
                self.call_later(self._write_markdown, answer)
        if grew:
            self.add_class("-reasoned")
        if grew or (reasoning and self.folded):
            self._fold_line()

    async def _write_markdown(self, text: str) -> None:
        if self._stream is not None:
            await self._stream.write(text)

    async def _restart_markdown(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
        await self.markdown.update("")
        self._stream = Markdown.get_stream(self.markdown)
        self.answer_box.anchor()

    async def settle(self) -> None:
        """Wait until every answer fragment written so far is rendered (tests, exports)."""
        # Stopping a MarkdownStream appends what is pending; a fresh one takes the next fragments.
        if self._stream is not None:
            await self._stream.stop()
            self._stream = Markdown.get_stream(self.markdown)

    def reset(self, title: str) -> None:
        self.border_title = f"Output — {title}"
        self.reasoning.clear()
        self.answer.clear()
        self._held = []
        self.call_later(self._restart_markdown)
        self._words = 0
        self._mid_word = False
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
