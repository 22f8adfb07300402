"""The rendered answer's view: streamed text, cut anywhere, draws what the whole document draws; a
finished block is rendered once; an append is a repaint of the view, not a layout pass of the screen."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.screen import Screen

from tests.tui.test_markdown_answer import recorded_text
from tui.widgets import markdown_text
from tui.widgets.markdown_text import MarkdownText

_, ANSWER = recorded_text()
# Blocks of every kind the renderer knows, in the orders that matter for the blank lines between them
# (Rich puts one before a list, a quote or a table even at the document's top).
MIXED = (
    "# Title\n\nA paragraph with *emphasis*, `code`, ~~gone~~ and a [link](https://example.org).\n"
    "It goes on a second line.\n\n"
    "- one\n- two\n  - nested\n\n> a quote\n> on two lines\n\n"
    "1. first\n2. second\n\n---\n\n    indented code\n\n"
    "| a | b |\n|---|:-:|\n| 1 | 2 |\n\n```sh\nls -l\n```\n\n### Small heading\n\nThe end.\n"
)


class One(App[None]):
    def compose(self) -> ComposeResult:
        yield MarkdownText()


def whole(view: MarkdownText, source: str) -> list[str]:
    """The document rendered in one go (the view's own renderer), without its leading blank lines."""
    lines = [line.text for line in view._render_lines(source, view._wrap)]
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


@pytest.mark.parametrize(
    "source",
    [
        ANSWER,
        MIXED,
        "- a list first\n- b\n\nthen text",
        "plain words " * 90,
        "\n\n  An answer after blank lines.\n\n- x\n",
    ],
)
@pytest.mark.parametrize("step", [1, 5, 64, 10_000])
async def test_streamed_text_draws_what_the_whole_document_draws(source: str, step: int) -> None:
    app = One()
    async with app.run_test(size=(50, 20)) as pilot:
        view = app.query_one(MarkdownText)
        await pilot.pause()
        for i in range(0, len(source), step):  # cut anywhere: mid-word, mid-fence, mid-table row
            view.append(source[i : i + step])
        assert view.source == source
        assert [line.text for line in view.lines] == whole(view, source)
        assert view.virtual_size.height == len(view.lines)


async def test_a_finished_block_is_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty paragraphs a word at a time: each is rendered whole once when the next begins; the rest of
    the work is the last block alone, so an append costs the size of that block, not the document's."""
    rendered: list[str] = []
    render = MarkdownText._render_lines

    def counting(self: MarkdownText, source: str, width: int) -> Any:
        rendered.append(source)
        return render(self, source, width)

    paragraphs = [f"Paragraph {n} has a few words in it." for n in range(20)]
    app = One()
    async with app.run_test(size=(50, 20)) as pilot:
        view = app.query_one(MarkdownText)
        await pilot.pause()
        monkeypatch.setattr(MarkdownText, "_render_lines", counting)
        for text in paragraphs:
            for word in text.split(" "):
                view.append(word + " ")
            view.append("\n\n")
        for n, text in enumerate(paragraphs[:-1]):
            finished = [s for s in rendered if f"Paragraph {n} " in s and f"Paragraph {n + 1} " in s]
            assert finished == [], "a finished block is rendered with the next"
            alone = [s for s in rendered if f"Paragraph {n} " in s and text in s]
            # Its last words as the tail, once more as it finished, and no more.
            assert len(alone) <= 3, (n, alone)
        longest = max(len(s) for s in rendered)
        assert longest < 2 * len(paragraphs[0]) + 10  # never the whole document


async def test_an_append_asks_for_no_layout_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[int] = []
    refresh_layout = Screen._refresh_layout

    def counting(self: Screen[object], *args: Any, **kwargs: Any) -> None:
        passes.append(1)
        refresh_layout(self, *args, **kwargs)

    app = One()
    async with app.run_test(size=(50, 12)) as pilot:
        view = app.query_one(MarkdownText)
        view.append("First words.\n\n")
        await pilot.pause()
        monkeypatch.setattr(Screen, "_refresh_layout", counting)
        for n in range(10):
            view.append(f"Paragraph {n} of the answer.\n\n")
            await pilot.pause()
        assert view.show_vertical_scrollbar  # it overflows: its scrollbar appeared (a layout pass)
        passes.clear()
        for n in range(10, 30):
            view.append(f"Paragraph {n} of the answer.\n\n")
            await pilot.pause()
        assert passes == []
        assert view.is_vertical_scroll_end and view.max_scroll_y > 0
        shown = [view.render_line(y).text.strip() for y in range(view.size.height)]
        assert "Paragraph 29 of the answer." in shown  # the newest line is on screen


async def test_a_new_width_or_theme_renders_it_again() -> None:
    app = One()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(MarkdownText)
        view.append(MIXED)
        await pilot.pause()
        wide = [line.text for line in view.lines]
        await pilot.resize_terminal(40, 20)
        await pilot.pause()
        assert (
            view._wrap == view.scrollable_content_region.width < 40
            and [line.text for line in view.lines] == whole(view, MIXED) != wide
        )
        title = app.get_css_variables()["markdown-h1-color"]
        app.theme = "textual-light"
        await pilot.pause()
        [style] = [seg.style for seg in view.lines[0] if seg.text.strip()]
        assert style and style.color
        new_title = app.get_css_variables()["markdown-h1-color"]
        assert new_title != title and style.color.get_truecolor().hex.upper() == new_title.upper()


async def test_text_that_came_while_hidden_is_rendered_when_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []
    render = MarkdownText._render_lines

    def counting(self: MarkdownText, source: str, width: int) -> Any:
        rendered.append(source)
        return render(self, source, width)

    monkeypatch.setattr(MarkdownText, "_render_lines", counting)
    app = One()
    async with app.run_test(size=(50, 12)) as pilot:
        view = app.query_one(MarkdownText)
        view.display = False
        await pilot.pause()
        for n in range(20):
            view.append(f"Paragraph {n}.\n\n")
        assert rendered == []
        view.display = True
        await pilot.pause()
        assert view.is_vertical_scroll_end and [line.text for line in view.lines] == whole(view, view.source)


def test_the_theme_gives_rich_only_colours_it_can_draw() -> None:
    """Textual's variables carry alpha (#E0E0E099) and words (transparent, auto 60%); Rich takes neither."""
    variables = {"markdown-h1-color": "#0178D4", "markdown-h1-text-style": "bold", "markdown-h6-color": "#E0E0E099",
                 "markdown-h2-color": "transparent", "text-primary": "auto 60%", "text-accent": "#FFC473"}  # fmt: skip
    theme = markdown_text.rich_theme(variables)
    console = Console(theme=theme)
    assert str(console.get_style("markdown.h1")) == "bold #0178d4"
    assert str(console.get_style("markdown.h6")).endswith("#e0e0e0")
    assert console.get_style("markdown.h2").color is None
    assert str(console.get_style("markdown.item.number")) == "blue"  # the fallback


async def test_a_view_that_shows_its_end_keeps_it_when_its_box_shrinks() -> None:
    """The reasoning above the answer grows by a row after the answer's last append: the newest line
    must stay on screen (it did not, in one of two runs of the 60-column snapshot); a reader who
    scrolled up stays where they are."""
    from textual.widgets import Static

    class Two(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("above", id="above")
            yield MarkdownText()

    app = Two()
    async with app.run_test(size=(50, 14)) as pilot:
        view = app.query_one(MarkdownText)
        for n in range(20):
            view.append(f"Paragraph {n}.\n\n")
        await pilot.pause()
        assert view.is_vertical_scroll_end
        app.query_one("#above", Static).update("above\nand\nmore")  # the box loses two rows
        await pilot.pause()
        shown = [view.render_line(y).text.strip() for y in range(view.size.height)]
        assert shown[-1] == "Paragraph 19." and view.is_vertical_scroll_end
        view.scroll_to(y=3, animate=False, immediate=True)  # the reader scrolls up ...
        app.query_one("#above", Static).update("above")
        await pilot.pause()
        assert view.scroll_y == 3  # ... and stays there


async def test_text_the_renderer_cannot_take_is_shown_as_it_came(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model writes anything; a renderer that fails on it must not take the screen down."""
    app = One()
    async with app.run_test(size=(50, 12)) as pilot:
        view = app.query_one(MarkdownText)
        await pilot.pause()
        cls = markdown_text._markdown_class()

        def broken(*args: Any) -> Any:
            raise ValueError("no")

        monkeypatch.setattr(cls, "of", broken)
        view.append("# Odd\n\nwords the renderer refused\n")
        await pilot.pause()
        text = [line.text.strip() for line in view.lines]
        assert "# Odd" in text and "words the renderer refused" in text
