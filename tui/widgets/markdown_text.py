"""The answer rendered as Markdown while it streams, line by line: finished blocks are rendered once.

Textual's Markdown widget is a tree of block widgets in a scroll box: each append grows its last block
and asks for two layout passes of the whole screen, which re-render the answer's stack of containers
(~50 ms of a core on a 2-core machine for a one-paragraph answer, every append, taken from a model
computing on the same CPU). Here the document is split where Markdown itself splits it: the top-level
blocks (markdown-it's token map). Every block but the last is finished — a new block began after it
— and is rendered once, by Rich's Markdown (the renderer `rich`'s own CLI and many chat tools use),
into lines kept for this width. Only the last block is rendered again as text arrives. The view is a
Line API scroll view whose box keeps its size, so text that arrives is a repaint of this view and
never a layout pass (see `LineView._sized`).

Markdown's blocks are closed by what follows them: once a later top-level block has begun, no text
after it changes an earlier one (link reference definitions aside, which chat answers do not use).
Textual's own streaming append relies on the same rule (it re-parses from the last block's start).
"""

from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING, Any, ClassVar

from textual.geometry import Size
from textual.strip import Strip

from tui.widgets.stream_text import LineView

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from rich.markdown import Markdown
    from rich.theme import Theme


@functools.cache
def parser(blocks_only: bool = False) -> MarkdownIt:
    """The parser Rich's Markdown uses (CommonMark with tables and strikethrough), so both agree on where
    a block ends; `blocks_only`: without the inline pass (where the blocks are is all `_split` asks)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt().enable("strikethrough").enable("table")
    return md.disable("inline") if blocks_only else md


@functools.cache
def warm() -> None:
    """Import and prime the renderer and the parser now, once a process (a run calls this before its
    request): their imports, the parser's rules and a highlighter's lexer are ~60 ms of a core the
    first time, which would otherwise fall in the first answer's first append, while the model
    decodes."""
    import io

    from rich.console import Console

    parser(blocks_only=True).parse(_WARM)
    console = Console(width=40, file=io.StringIO(), color_system="truecolor")
    console.render_lines(_markdown_class().of(_WARM, "ansi_dark", None), console.options)  # type: ignore[attr-defined]


# What stands in for the finished block before a rendered piece (see `MarkdownText._render_blocks`): a
# one-line paragraph, or after a rule a rule (Rich puts no blank line after one: it draws its own).
_BEFORE = {"hr": "---"}
_PARAGRAPH = "x"
# Every kind of block, and code in the language gpt-oss answers in most (its lexer is imported on use).
_WARM = "# T\n\n1. **a** `b` ~~c~~\n\n> q\n\n| a |\n|---|\n| b |\n\n```python\nx = {'a': 1}\n```\n"


_templates: dict[str, Any] = {}  # an empty document for each code theme, copied for each render


@functools.cache
def _markdown_class() -> type[Markdown]:
    """Rich's Markdown with headings on the left (an answer panel is not a page: a centred title reads
    as a banner), ordered lists numbered "1." as written, and code on a background of the theme's
    (`code_background`). Built on first use: Rich's Markdown and its highlighter are tens of
    milliseconds of imports that an idle screen does not need."""
    from rich.markdown import CodeBlock, Heading, ListItem, Markdown
    from rich.segment import Segment
    from rich.syntax import Syntax

    class Code(CodeBlock):
        background: str | None = None

        @classmethod
        def create(cls, markdown: Any, token: Any) -> Code:
            block = super().create(markdown, token)
            assert isinstance(block, Code)
            block.background = getattr(markdown, "code_background", None)
            return block

        def __rich_console__(self, console: Any, options: Any) -> Any:
            code = str(self.text).rstrip()
            yield Syntax(code, self.lexer_name, theme=self.theme, word_wrap=True, padding=1,
                         background_color=self.background)  # fmt: skip

    class LeftHeading(Heading):
        LEVEL_ALIGN: ClassVar[dict[str, Any]] = dict.fromkeys(Heading.LEVEL_ALIGN, "left")

    class NumberedItem(ListItem):
        def render_number(self, console: Any, options: Any, number: int, last_number: int) -> Any:
            width = len(str(last_number)) + 3  # "12. "
            inner = options.update(width=options.max_width - width)
            lines = console.render_lines(self.elements, inner, style=self.style)
            style = console.get_style("markdown.item.number", default="none")
            numeral, padding = Segment(f"{number}.".rjust(width - 1) + " ", style), Segment(" " * width, style)
            for n, line in enumerate(lines):
                yield padding if n else numeral
                yield from line
                yield Segment("\n")

    class AnswerMarkdown(Markdown):
        elements: ClassVar[dict[str, Any]] = {
            **Markdown.elements,
            "heading_open": LeftHeading,
            "fence": Code,
            "code_block": Code,
            "list_item_open": NumberedItem,
        }
        code_background: str | None = None

        @classmethod
        def of(cls, source: str, code_theme: str, code_background: str | None) -> AnswerMarkdown:
            """Rich's Markdown of `source`, parsed by one parser kept for all (Rich builds a parser for
            each document: ~0.6 ms, twice an append)."""
            template = _templates.get(code_theme)
            if template is None:
                template = _templates[code_theme] = cls("", code_theme=code_theme, hyperlinks=False)
            markdown = copy.copy(template)
            markdown.markup, markdown.parsed = source, parser().parse(source)
            markdown.code_background = code_background
            return markdown

    return AnswerMarkdown


def _colour(variables: dict[str, str], name: str) -> str:
    """A theme variable's colour as Rich reads it ("" for none, or one Rich cannot draw)."""
    value = (variables.get(name) or "").split()
    colour = value[0] if value else ""
    if colour.startswith("#") and len(colour) == 9:
        colour = colour[:7]  # Rich has no alpha: the colour without it
    return "" if colour in ("transparent", "auto") else colour


def rich_theme(variables: dict[str, str]) -> Theme:
    """Rich's Markdown styles in the app's theme: the headings as Textual's Markdown draws them (its
    `markdown-hN-*` variables), lists, tables, code and links in the theme's text colours."""
    from rich.theme import Theme

    def colour(name: str, fallback: str = "") -> str:
        return _colour(variables, name) or fallback

    def style(*parts: str) -> str:
        return " ".join(p for p in parts if p and p != "none") or "none"

    primary, accent = colour("text-primary", "blue"), colour("text-accent", "yellow")
    styles = {
        f"markdown.h{n}": style(variables.get(f"markdown-h{n}-text-style", "bold"), colour(f"markdown-h{n}-color"))
        for n in range(1, 7)
    }
    styles |= {
        "markdown.code": style("bold", accent),
        "markdown.code_block": "none",
        "markdown.block_quote": style("italic", colour("text-secondary", primary)),
        "markdown.item.bullet": style("bold", primary),
        "markdown.item.number": primary,
        "markdown.table.border": primary,
        "markdown.table.header": style("bold", primary),
        "markdown.link": accent,
        "markdown.link_url": style("underline", accent),
    }
    return Theme(styles)


class MarkdownText(LineView, can_focus=False):
    DEFAULT_CSS = """
    MarkdownText { scrollbar-gutter: stable; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._done_src: list[str] = []  # the finished blocks' source, in the pieces they finished in
        self._tail = ""  # the source from the last block's first line on: still growing
        self._done: list[Strip] = []  # the finished blocks, rendered at width `_wrap`
        self._live: list[Strip] = []  # the last block, rendered
        # The kind of the last finished top-level block drawn (markdown-it's token type); None: none yet.
        self._last: str | None = None
        self._before: dict[tuple[str, int], int] = {}  # lines a stand-in renders to, by width
        # The app's theme's name, its Rich styles, the code's theme and the code blocks' background.
        self._theme: tuple[str, Theme, str, str | None] | None = None

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._rethemed, init=False)

    def _rethemed(self) -> None:
        if self._tail or self._done_src:
            self._render_all(self._width())
            self.refresh()

    @property
    def source(self) -> str:
        """The Markdown source so far."""
        return "".join(self._done_src) + self._tail

    @property
    def lines(self) -> list[Strip]:
        """Every rendered line, the finished blocks' and the last block's."""
        if self._stale:
            self._render_all(self._width())
        return self._done + self._live

    def clear(self) -> None:
        self._done_src, self._tail, self._done, self._live, self._last = [], "", [], [], None
        self._emptied()  # its box keeps its size: no layout pass as a run starts

    def append(self, text: str) -> None:
        """Add streamed source: the blocks it finishes are rendered once, the last block again."""
        if not text:
            return
        self._tail += text
        if self._stale or not self.shown:
            self._stale = True  # rendered when shown
            return
        at_end = self._pinned
        width = self._width()
        if width != self._wrap:
            self._render_all(width)
        else:
            self._advance(width)
        self._sized(Size(width, len(self._done) + len(self._live)))
        self.refresh()
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _advance(self, width: int) -> None:
        """Move what the tail's blocks finished into the rendered lines, and render the tail again."""
        finished, kind = self._split()
        if finished:
            self._done_src.append(finished)
            lines = self._render_blocks(finished, width, after=self._last)
            if lines:
                self._done.extend(lines)
                self._last = kind
        self._live = self._render_blocks(self._tail, width, after=self._last)

    def _split(self) -> tuple[str, str]:
        """Cut the tail at its last top-level block's first line; return what comes before it, and the
        kind of its last block."""
        tokens = parser(blocks_only=True).parse(self._tail)
        blocks = [t for t in tokens if t.level == 0 and t.map is not None]
        if len(blocks) < 2:  # one block (blank lines before it, as an answer may begin, are not one)
            return "", ""
        start = blocks[-1].map[0]  # type: ignore[index]
        lines = self._tail.splitlines(keepends=True)
        finished = "".join(lines[:start])
        self._tail = "".join(lines[start:])
        return finished, blocks[-2].type

    def _render_all(self, width: int) -> None:
        """Everything again, at a new width (or what arrived while hidden)."""
        self._stale = False
        source = "".join(self._done_src) + self._tail
        self._done_src, self._tail, self._done, self._live, self._last = [], source, [], [], None
        self._wrap = width
        self._advance(width)
        self._sized(Size(width, len(self._done) + len(self._live)))

    def _render_blocks(self, source: str, width: int, after: str | None = None) -> list[Strip]:
        """`source`'s blocks as Rich renders them in the whole document: `after` a block of that kind
        (with the blank line Rich puts after it), or at the top (None: no blank lines first)."""
        if not source.strip():
            return []
        if after is not None:
            # Rich's blank line before a block depends on what it rendered before: a stand-in for the
            # block before gives this one what it has in the whole document, and is dropped.
            before = _BEFORE.get(after, _PARAGRAPH)
            if (before, width) not in self._before:
                self._before[before, width] = len(self._render_lines(before, width))
            return self._render_lines(f"{before}\n\n{source}", width)[self._before[before, width] :]
        lines = self._render_lines(source, width)
        while lines and not lines[0].text.strip():
            lines.pop(0)
        return lines

    def _render_lines(self, source: str, width: int) -> list[Strip]:
        app = self.app
        if self._theme is None or self._theme[0] != app.theme:
            variables = app.get_css_variables()
            # Code in the terminal's ANSI colours (the theme maps them), on the theme's panel colour.
            code = "ansi_dark" if app.current_theme.dark else "ansi_light"
            self._theme = (app.theme, rich_theme(variables), code, _colour(variables, "panel") or None)
        _, styles, code, background = self._theme
        console = app.console
        options = console.options.update(width=width, height=None, highlight=False)
        with console.use_theme(styles):
            try:
                markdown = _markdown_class().of(source, code, background)  # type: ignore[attr-defined]
                lines = console.render_lines(markdown, options, style=self.rich_style, pad=True)
            except Exception:  # a model's text the renderer cannot take: shown as it came, not a crash
                from rich.text import Text

                lines = console.render_lines(Text(source), options, style=self.rich_style, pad=True)
        return [Strip(line, width) for line in lines]

    def on_show(self) -> None:
        if self._stale:
            self._render_all(self._width())
            self._to_end()
            self.refresh()

    def on_resize(self) -> None:
        width = self._width()
        if (width != self._wrap or self._stale) and (self._tail or self._done_src):
            self._render_all(width)
            self.refresh()
        self._keep_end()
        self._wrap = width

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        done = len(self._done)
        if index < done:
            line = self._done[index]
        elif index - done < len(self._live):
            line = self._live[index - done]
        else:
            return Strip.blank(width, self.rich_style)
        return line.crop_extend(0, width, self.rich_style)
