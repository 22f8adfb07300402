"""The streamed text: reasoning (plain, dimmed, foldable) above the answer, and an error banner.

The answer renders as Markdown while it streams (gpt-oss answers in headings, lists, tables and code).
Text reaches the panel at most four times a second (the screen's flush); the Markdown widget is then
appended to as Textual's MarkdownStream does it — one append at a time, whatever arrived meanwhile
joined into the next — and paced as well: each append re-lays out the growing document, so after one
that took t seconds the next waits 9·t (and at least MIN_GAP_S), and a backlog goes in pieces of at most
CHUNK characters.
Markdown thus takes at most a tenth of the event loop however fast a model streams (at 5,000 tok/s it
falls behind and catches up after the run), and the stream itself is never held up. The raw text is kept beside it in a
StreamText; `toggle_raw` shows that instead (and the Markdown is not fed while it is shown).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Static

from tui.widgets.stream_text import StreamText

if TYPE_CHECKING:
    from textual.widgets import Markdown


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
    """

    _error: str | None = None  # the banner's text
    _reasoned = False  # a blank line parts the reasoning from the answer (see _part)
    _words = 0  # reasoning words so far: counted as they arrive, not by re-reading the text
    _mid_word = False  # the reasoning so far ends inside a word
    DUTY = 9.0  # after an append that took t, the next waits DUTY·t: Markdown gets ≤ 1/(1+DUTY) of the loop
    CHUNK = 1200  # characters per append at most (about 300 tokens): no append holds the loop long
    # Markdown is parsed again and laid out at most twice a second while the answer streams: it is the
    # most costly thing the screen does during a run (benchmarks/observer.py); the raw view and the
    # reasoning still follow every flush.
    MIN_GAP_S = 0.5
    # ... and every three seconds while the screen is calm (the model computes on this machine's CPU):
    # an append's frames (the layout pass of the grown document, Textual's second pass for the sizes it
    # changed, the scroll to the new end) are ~30 ms of a core on a 2-core machine, the largest part of
    # what the TUI takes from the model during a run. The raw view (m) still follows every redraw.
    CALM_GAP_S = 3.0

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._held: list[str] = []  # answer text that came while the raw view was shown
        self._pending: list[str] = []  # answer text waiting for the next Markdown append
        self._last_append = (0.0, 0.0)  # when the last append ended, and how long it took
        self._timer: Timer | None = None
        self._restart_due = False  # the document still holds the last run's answer
        self._appending = asyncio.Lock()

    def compose(self) -> ComposeResult:
        yield Static(id="error")
        yield Static(id="reasoning-fold")
        yield StreamText(id="reasoning")
        # The Markdown view itself comes with the first answer: its parser and highlighter are ~3 MB and
        # tens of milliseconds of imports that an idle `top` or its first frame do not need.
        yield VerticalScroll(id="answer", can_focus=False)
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
    def markdown(self) -> Markdown:
        """The rendered answer (NoMatches before the first answer of the session)."""
        from textual.widgets import Markdown

        return self.query_one("#answer-md", Markdown)

    @property
    def rendered(self) -> str:
        """The Markdown source rendered so far ("" before the first answer)."""
        try:
            return self.markdown.source
        except NoMatches:
            return ""

    async def build_view(self) -> None:
        """Build the Markdown view now if it is not yet there: before a run sends its request, not while
        the server reads the prompt or inside the first answer token's flush. Its imports and its
        mounting were ~55 ms of a core that a first run's prompt processing (or decode) lost."""
        await self._markdown_view()

    async def _markdown_view(self) -> Markdown:
        try:
            return self.markdown
        except NoMatches:
            from textual.widgets import Markdown

            view = Markdown(id="answer-md", open_links=False)
            await self.answer_box.mount(view)
            _warm_parser()
            return view

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
        self._set_gap()
        if self.raw:
            self.answer.scroll_end(animate=False, immediate=True, x_axis=False)
            return
        if self._held:  # what arrived while the raw text was shown, rendered in one append
            self._feed("".join(self._held))
            self._held = []
        self.answer_box.scroll_end(animate=False, immediate=True, x_axis=False)

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

    async def pump(self, calm: bool = False) -> None:
        """The next Markdown append, if one is due, now: the screen's flush awaits it inside its batch,
        so the tokens, the figures and the rendered answer reach the terminal in one frame. `calm`: the
        model computes on this CPU, and appends are CALM_GAP_S apart."""
        gap = self.CALM_GAP_S if calm else self.MIN_GAP_S
        if self._pending and self._timer is None and time.monotonic() >= self._due(gap):
            await self._append()

    def finish(self) -> None:
        """The run ended: what `pump` has not rendered yet goes on its own pace (the busy one: the
        model no longer runs)."""
        if self._pending and self._timer is None:
            self._feed("")

    def _feed(self, text: str) -> None:
        self._pending.append(text)
        if self._timer is None:
            # A timer's callback runs in this widget's message queue, in order with resets (call_later).
            # (Textual's timers divide by their delay: never 0.)
            self._timer = self.set_timer(max(self._due(self.MIN_GAP_S) - time.monotonic(), 0.001), self._append)

    async def _append(self) -> None:
        self._timer = None
        async with self._appending:  # the flush's pump and this widget's timer take turns
            await self._append_pending()

    async def _append_pending(self) -> None:
        await self._restart_if_due()
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        if len(text) > self.CHUNK:  # a long backlog goes in pieces, the loop stays free between them
            cut = text.rfind("\n", 0, self.CHUNK) + 1 or self.CHUNK
            text, rest = text[:cut], text[cut:]
            self._pending.append(rest)
        started = time.monotonic()
        await (await self._markdown_view()).append(text)
        done = time.monotonic()
        self._last_append = (done, done - started)
        if not self.answer_box.is_anchored:
            self.call_after_refresh(self._follow)
        if self._pending:
            self._feed("")

    def _follow(self) -> None:
        """Anchor the answer's box (it then follows the end until the reader scrolls up) once the answer
        is taller than it: Textual 8.2's compositor scrolls an anchored box to `content bottom − height`,
        which puts a short answer at the bottom of an empty box."""
        box = self.answer_box
        if not box.is_anchored and box.max_scroll_y > 0:
            box.anchor()

    async def _restart_if_due(self) -> None:
        # The last run's document goes before the new run's first append, whichever task (this
        # widget's queue after `reset`, or the screen's flush via `pump`) gets here first.
        if self._restart_due:
            self._restart_due = False
            await self._restart_markdown()

    async def _restart_markdown(self) -> None:
        self.answer_box.anchor(False)
        with contextlib.suppress(NoMatches):  # no answer yet this session: nothing to clear
            await self.markdown.update("")
        self.answer_box.scroll_home(animate=False, immediate=True)

    async def settle(self) -> None:
        """Render every answer fragment written so far now (tests, exports)."""
        while self._pending:
            if self._timer is not None:
                self._timer.stop()
            await self._append()

    def reset(self, title: str) -> None:
        self.border_title = f"Output — {title}"
        self.reasoning.clear()
        self.answer.clear()
        self._held = []
        # The last run's unrendered text goes now; the new run's text is fed after this call, and its
        # appends queue behind the clearing of the document (both run in this widget's message queue).
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._pending.clear()
        self._last_append = (0.0, 0.0)
        self._restart_due = True
        self.call_later(self._restart_if_due)
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
        view = self.answer if self.raw else self.answer_box
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


def _warm_parser() -> None:
    """Textual's Markdown parses each append with a fresh "gfm-like" markdown-it, whose linkify step
    compiles its regular expressions on first use (~35 ms of a core here, then kept in `re`'s cache):
    done with the view, before the first request, instead of inside the first answer's first append,
    while the model decodes."""
    from markdown_it import MarkdownIt

    MarkdownIt("gfm-like").parse("www.example.com, https://example.com/a and a@example.com")
