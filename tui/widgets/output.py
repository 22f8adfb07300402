"""The streamed text: reasoning (plain, dimmed, foldable) above the answer, and an error banner.

The answer renders as Markdown while it streams (gpt-oss answers in headings, lists, tables and code),
in a view that renders each finished block once and the last block again as text arrives
(MarkdownText): an append is a repaint of that view, a few milliseconds, never a layout pass. Text
reaches the panel at most four times a second (the screen's flush); the rendered view is appended to
when that is due — whatever arrived meanwhile joined into one append — and paced: after an append
that took t seconds the next waits 9·t (and at least MIN_GAP_S, or CALM_GAP_S while the model computes
on this machine's CPU), and a backlog goes in pieces of at most CHUNK characters. So the rendering
takes at most a tenth of the event loop however fast a model streams, and the stream is never held up.
The raw text is kept beside it in a StreamText; `toggle_raw` shows that instead (and the Markdown is
not fed while it is shown).
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

from tui.widgets import markdown_text
from tui.widgets.markdown_text import MarkdownText
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
    OutputPanel.-raw #answer-raw { display: block; }
    OutputPanel.-raw #answer { display: none; }
    """

    _error: str | None = None  # the banner's text
    _reasoned = False  # a blank line parts the reasoning from the answer (see _part)
    _words = 0  # reasoning words so far: counted as they arrive, not by re-reading the text
    _mid_word = False  # the reasoning so far ends inside a word
    DUTY = 9.0  # after an append that took t, the next waits DUTY·t: Markdown gets ≤ 1/(1+DUTY) of the loop
    CHUNK = 1200  # characters per append at most (about 300 tokens): no append holds the loop long
    # The rendered answer is appended to at most four times a second while the answer streams (each
    # flush), and every CALM_GAP_S while the screen is calm (the model computes on this machine's CPU):
    # an append renders the answer's last block again (a few milliseconds for a paragraph of a
    # thousand words) and repaints the view. The raw view (m) and the reasoning follow every flush.
    MIN_GAP_S = 0.2  # under the flush interval (0.25 s): every flush may append
    CALM_GAP_S = 1.0

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._held: list[str] = []  # answer text that came while the raw view was shown
        self._pending: list[str] = []  # answer text waiting for the next rendered append
        self._last_append = (0.0, 0.0)  # when the last append ended, and how long it took
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="error")
        yield Static(id="reasoning-fold")
        yield StreamText(id="reasoning")
        yield MarkdownText(id="answer")
        yield StreamText(id="answer-raw")

    def on_mount(self) -> None:
        self.border_title = "Output"
        self._fold_line()

    @property
    def reasoning(self) -> StreamText:
        return self.query_one("#reasoning", StreamText)

    @property
    def answer(self) -> StreamText:
        """The answer's raw text (what arrived, unrendered); shown when the view is raw."""
        return self.query_one("#answer-raw", StreamText)

    @property
    def markdown(self) -> MarkdownText:
        """The rendered answer."""
        return self.query_one("#answer", MarkdownText)

    @property
    def rendered(self) -> str:
        """The Markdown source rendered so far."""
        return self.markdown.source

    def build_view(self) -> None:
        """Ready the renderer before a run sends its request, not while the server reads the prompt
        or inside the first answer token's flush: its imports and first use were ~60 ms of a core
        that a first run's prompt processing (or decode) lost. Once a process."""
        markdown_text.warm()

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
        self._set_gap()
        if self.raw:
            self.answer.scroll_end(animate=False, immediate=True, x_axis=False)
            return
        if self._held:  # what arrived while the raw text was shown, rendered in one append
            self._feed("".join(self._held))
            self._held = []

    def write(self, reasoning: str, answer: str, live: bool = False) -> None:
        """Add streamed text. `live` (the screen's flush while a run streams): the answer waits for
        `pump`, which the flush calls after drawing, so a Markdown append shares the flush's tick."""
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
            elif live:
                self._pending.append(answer)
            else:
                self._feed(answer)
        if grew:
            self._part(True)
        if grew or (reasoning and self.folded):
            self._fold_line()

    def _due(self, gap_s: float) -> float:
        """When the next append may start: DUTY times the last one's length after it, and `gap_s` at least."""
        done, took = self._last_append
        return done + max(self.DUTY * took, gap_s)

    def pump(self, calm: bool = False) -> None:
        """The next rendered append, if one is due, now: the screen's flush calls it inside its batch,
        so the tokens, the figures and the rendered answer reach the terminal in one frame. `calm`: the
        model computes on this CPU, and appends are CALM_GAP_S apart."""
        gap = self.CALM_GAP_S if calm else self.MIN_GAP_S
        if self._pending and self._timer is None and time.monotonic() >= self._due(gap):
            self._append()

    def finish(self) -> None:
        """The run ended: what `pump` has not rendered yet goes on its own pace (the busy one: the
        model no longer runs)."""
        if self._pending and self._timer is None:
            self._feed("")

    def _feed(self, text: str) -> None:
        self._pending.append(text)
        if self._timer is None:
            # (Textual's timers divide by their delay: never 0.)
            self._timer = self.set_timer(max(self._due(self.MIN_GAP_S) - time.monotonic(), 0.001), self._append)

    def _append(self) -> None:
        self._timer = None
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        if len(text) > self.CHUNK:  # a long backlog goes in pieces, the loop stays free between them
            cut = text.rfind("\n", 0, self.CHUNK) + 1 or self.CHUNK
            text, rest = text[:cut], text[cut:]
            self._pending.append(rest)
        started = time.monotonic()
        self.markdown.append(text)
        done = time.monotonic()
        self._last_append = (done, done - started)
        if self._pending:
            self._feed("")

    def settle(self) -> None:
        """Render every answer fragment written so far now (tests, exports)."""
        while self._pending:
            if self._timer is not None:
                self._timer.stop()
            self._append()

    def reset(self, title: str) -> None:
        self.border_title = f"Output — {title}"
        self.reasoning.clear()
        self.answer.clear()
        self._held = []
        # The last run's unrendered text goes now, with its rendered answer.
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._pending.clear()
        self._last_append = (0.0, 0.0)
        self.markdown.clear()
        self._words = 0
        self._mid_word = False
        self._part(False)
        self.show_error(None)
        self._fold_line()

    def _part(self, on: bool) -> None:
        """A blank line between the reasoning and the answer (rendered or raw), colour or not, once there
        is reasoning. Set on the view itself: a class on the panel had its whole subtree (the
        last run's answer, block by block) matched against the stylesheet again, at each run's start
        and at its first reasoning, while the model computed."""
        if on != self._reasoned:
            self._reasoned = on
            self._set_gap()

    def _set_gap(self) -> None:
        """The gap on the answer view that is shown (the other gets it when shown: a style change of a
        hidden view is a layout pass of the screen all the same)."""
        view = self.answer if self.raw else self.markdown
        top = 1 if self._reasoned else 0
        if view.styles.margin.top != top:
            view.styles.margin = (top, 0, 0, 0)

    def show_error(self, text: str | None) -> None:
        self.set_class(text is not None, "-error")
        if text != self._error:  # every run clears it: no layout pass for a banner that is not there
            self._error = text
            self.query_one("#error", Static).update(text or "")

    def _fold_line(self) -> None:
        n = self._words
        if self.folded:
            text = f"▸ reasoning folded ({n} words) — t shows it"
        elif n:
            text = "▾ reasoning — t folds it"
        else:
            text = "▾ reasoning (none yet) — t folds it"
        self.query_one("#reasoning-fold", Static).update(text, layout=False)  # one line, always
