"""The answer renders as Markdown while it streams; the reasoning stays plain; the raw text is one key away.

The stream is llama-server b7010's recorded gpt-oss-20b reply with a Markdown answer in it
(tests/data/llamacpp/chat_gpt-oss-20b_b7010_markdown.source.txt says what was changed), decoded by the
project's own SSE decoder and handed to the app token by token on a virtual clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from backends.base import ChatRequest, ContentDelta, LoadSpec, Prepared, ReasoningDelta, StreamEvent
from backends.wire.openai_stream import OpenAIStreamDecoder
from tests.fakes.backend import FakeBackend
from tests.probes.fake import FakeClock
from tui.app import GptossTop
from tui.widgets import markdown_text
from tui.widgets.markdown_text import MarkdownText
from tui.widgets.output import OutputPanel

RECORDING = Path(__file__).parent.parent / "data" / "llamacpp" / "chat_gpt-oss-20b_b7010_markdown.sse"
Snap = Callable[..., bool]


def recorded_events() -> list[StreamEvent]:
    decoder = OpenAIStreamDecoder()
    data = RECORDING.read_bytes()
    events: list[StreamEvent] = []
    for start in range(0, len(data), 512):  # network-sized reads, frames cut anywhere
        events += decoder.feed(data[start : start + 512])
    return events + decoder.close()


def recorded_text() -> tuple[str, str]:
    events = recorded_events()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, ContentDelta))
    return reasoning, answer


class ReplayBackend(FakeBackend):
    """Streams the recorded events one by one, spending 1/tps of virtual (or real) time per token."""

    def __init__(self, clock: Any | None, tps: float = 117.8) -> None:
        super().__init__(clock=clock, tps=tps)
        self.events = recorded_events()
        self.reasoning, self.answer = recorded_text()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls.append(("stream", request))
        await self._wait(self.ttft_s)
        for ev in self.events:
            if isinstance(ev, ReasoningDelta | ContentDelta):
                await self._wait(1 / self.tps)
            yield ev


def after_run(*then: str, raw: bool = False) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, GptossTop)
        await pilot.press("enter")
        assert app.main.run_worker_ is not None
        await app.main.run_worker_.wait()
        await app.workers.wait_for_complete()
        out = app.main.query_one(OutputPanel)
        out.settle()
        if raw:
            out.toggle_raw()
        for key in then:
            await pilot.press(key)
        await pilot.pause()

    return run_before


def test_recording_holds_a_table_a_list_and_code() -> None:
    reasoning, answer = recorded_text()
    assert reasoning.startswith("The user")  # the recorded reasoning, untouched
    assert "| measure | effect | challenge |" in answer and "\n1. **Vaccination**" in answer
    assert "```python\n" in answer


async def test_answer_renders_as_markdown_and_reasoning_stays_plain(
    build: Callable[..., GptossTop], clock: FakeClock
) -> None:
    backend = ReplayBackend(clock)
    app = build(backend=backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await after_run()(pilot)
        out = app.main.query_one(OutputPanel)
        md = out.markdown
        assert md.source == backend.answer  # every fragment arrived, in order
        text = [line.text.rstrip() for line in md.lines]
        assert text[0] == "Three public-health measures"  # the heading, on the left, its marks gone
        [heading] = [seg.style for seg in md.lines[0] if seg.text.strip()]
        h2 = app.get_css_variables()["markdown-h2-color"]
        assert (
            heading and heading.underline and heading.color and heading.color.get_truecolor().hex.upper() == h2.upper()
        )
        assert [t.split()[0] for t in text if t.lstrip()[:2] in ("1.", "2.", "3.")] == ["1.", "2.", "3."]
        assert not any("**" in t for t in text)  # bold is a style, not asterisks
        header = next(t for t in text if "measure" in t and "effect" in t)
        assert header.split() == ["measure", "effect", "challenge"]  # a table: columns, no pipes
        assert any(t.split() == ["Vaccination", "herd", "hesitancy"] for t in text)  # a row, in columns (wrapped)
        assert not any("|" in t for t in text)
        [code] = [t for t in text if "effects =" in t]
        assert "```" not in "".join(text) and code.strip().startswith("effects = {")
        assert " ".join(text[-2:]) == "Each measure works best together with the others."  # wrapped
        # The reasoning is the plain text as streamed, in a dimmed view of its own.
        assert out.reasoning.text == backend.reasoning
        assert out.reasoning.styles.text_style.dim
        assert not out.raw and out.markdown.display and not out.answer.display


async def test_raw_toggle_shows_the_text_as_it_came(build: Callable[..., GptossTop], clock: FakeClock) -> None:
    backend = ReplayBackend(clock)
    app = build(backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await after_run()(pilot)
        out = app.main.query_one(OutputPanel)
        assert out.reasoning.text and out.markdown.styles.margin.top == 1  # a blank line after the reasoning
        out.toggle_raw()
        await pilot.pause()
        assert out.raw and out.answer.display and not out.markdown.display
        assert out.answer.text == backend.answer
        assert "| Vaccination | herd immunity | hesitancy |" in out.answer.lines
        assert out.answer.region.y == out.reasoning.region.bottom + 1  # the raw view keeps the blank line
        out.toggle_raw()
        await pilot.pause()
        assert not out.raw and out.markdown.display
        assert out.markdown.region.y == out.reasoning.region.bottom + 1


async def test_a_new_run_starts_a_new_document(build: Callable[..., GptossTop], clock: FakeClock) -> None:
    backend = ReplayBackend(clock)
    app = build(backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await after_run()(pilot)
        await after_run()(pilot)
        out = app.main.query_one(OutputPanel)
        assert out.markdown.source == backend.answer  # not the answer twice
        assert sum("Vaccination" in line.text and "herd immunity" in line.text for line in out.markdown.lines) == 1


async def test_batching_keeps_screen_updates_to_ten_a_second(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the real clock at 400 tok/s: the panel is written at most ~10 times a second and the
    Markdown appends no more often than that, however many tokens arrive."""
    import time

    backend = ReplayBackend(clock=None, tps=400.0)
    backend.ttft_s = 0.0
    writes: list[float] = []
    appends: list[str] = []
    real_write = OutputPanel.write
    real_append = MarkdownText.append

    def counting_write(self: OutputPanel, reasoning: str, answer: str, live: bool = False) -> None:
        writes.append(time.perf_counter())
        real_write(self, reasoning, answer, live)

    def counting_append(self: MarkdownText, markdown: str) -> None:
        appends.append(markdown)
        real_append(self, markdown)

    monkeypatch.setattr(OutputPanel, "write", counting_write)
    monkeypatch.setattr(MarkdownText, "append", counting_append)
    app = build(backend=backend, clock=time.perf_counter)
    async with app.run_test(size=(100, 30)) as pilot:
        t0 = time.perf_counter()
        await after_run()(pilot)
        elapsed = time.perf_counter() - t0
        tokens = sum(isinstance(e, ReasoningDelta | ContentDelta) for e in backend.events)
        assert tokens > 150
        assert len(writes) <= elapsed / 0.1 + 3  # the flush timer, not the tokens, sets the pace
        assert 1 <= len(appends) <= len(writes) + 1
        assert "".join(appends) == backend.answer


def test_markdown_answer_80x24(snap_compare: Snap, build: Callable[..., GptossTop], clock: FakeClock) -> None:
    assert snap_compare(build(backend=ReplayBackend(clock)), terminal_size=(80, 24), run_before=after_run())


def test_markdown_answer_120x40(snap_compare: Snap, build: Callable[..., GptossTop], clock: FakeClock) -> None:
    assert snap_compare(build(backend=ReplayBackend(clock)), terminal_size=(120, 40), run_before=after_run())


def test_markdown_answer_folded_80x24(snap_compare: Snap, build: Callable[..., GptossTop], clock: FakeClock) -> None:
    """Reasoning folded: the table and the code block get the room."""
    assert snap_compare(build(backend=ReplayBackend(clock)), terminal_size=(80, 24), run_before=after_run("t"))


def test_raw_answer_80x24(snap_compare: Snap, build: Callable[..., GptossTop], clock: FakeClock) -> None:
    assert snap_compare(build(backend=ReplayBackend(clock)), terminal_size=(80, 24), run_before=after_run(raw=True))


async def test_raw_view_holds_markdown_work_until_it_is_left(build: Callable[..., GptossTop], clock: FakeClock) -> None:
    """While the raw text is shown the Markdown is not fed; going back renders all of it at once."""
    backend = ReplayBackend(clock)
    app = build(backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        out = app.main.query_one(OutputPanel)
        out.toggle_raw()
        await after_run()(pilot)
        assert out.answer.text == backend.answer
        assert out.rendered == ""
        out.toggle_raw()
        await pilot.pause()
        out.settle()
        assert out.markdown.source == backend.answer
        assert any(line.text.split() == ["Vaccination", "herd", "immunity", "hesitancy"] for line in out.markdown.lines)


async def test_reasoning_word_count_does_not_depend_on_the_batches() -> None:
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield OutputPanel()

    reasoning, _ = recorded_text()
    for size in (1, 3, 7, 64):
        app = One()
        async with app.run_test(size=(80, 24)) as pilot:
            out = app.query_one(OutputPanel)
            for i in range(0, len(reasoning), size):  # cut anywhere, mid-word too
                out.write(reasoning[i : i + size], "")
            out.toggle_fold()
            await pilot.pause()
            assert f"({len(reasoning.split())} words)" in str(out.query_one("#reasoning-fold").render())


async def test_a_short_answer_sits_at_the_top_and_a_long_one_follows_its_end() -> None:
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield OutputPanel()

    app = One()
    async with app.run_test(size=(60, 14)) as pilot:
        out = app.query_one(OutputPanel)
        out.write("thinking", "Three words.")
        out.settle()
        await pilot.pause()
        assert out.markdown.scroll_y == 0 and out.markdown.max_scroll_y == 0
        assert out.markdown.render_line(0).text.strip() == "Three words."  # on the view's first row
        for i in range(30):
            out.write("", f"Paragraph {i}.\n\n")
            await pilot.pause(0.01)
        out.settle()
        await pilot.pause()
        assert out.markdown.max_scroll_y > 0 and out.markdown.is_vertical_scroll_end
        out.markdown.scroll_home(animate=False, immediate=True)  # the reader scrolls up ...
        out.write("", "More.\n\n")
        out.settle()
        await pilot.pause()
        assert out.markdown.scroll_y == 0  # ... and stays where they are


async def test_the_markdown_view_is_built_before_the_request_is_sent(
    build: Callable[..., GptossTop], clock: FakeClock
) -> None:
    """Its imports and first use (~60 ms of a core) happen before the server has work, not while it
    reads the prompt or decodes the first tokens."""
    seen: list[bool] = []

    class Watching(ReplayBackend):
        async def prepare(self, spec: LoadSpec) -> Prepared:  # the run's first request
            seen.append(markdown_text.warm.cache_info().currsize == 1)
            return await super().prepare(spec)

    markdown_text.warm.cache_clear()  # as in a fresh process
    app = build(backend=Watching(clock))
    async with app.run_test(size=(100, 30)) as pilot:
        await after_run()(pilot)
    assert seen == [True]
