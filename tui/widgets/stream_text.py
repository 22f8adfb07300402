"""A scrolling text view for streamed tokens: appends wrap only the new text, never the whole.

Textual's Log does not wrap and RichLog writes whole renderables per call; a model's answer is long
paragraphs that arrive a few words at a time. This keeps the wrapped lines and the line being
written, so an append costs the size of the append (plus one line), and a line is re-rendered only
when it changes (the Line API). The whole text is re-flowed once per width change, not per token.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


def _cut(line: str, width: int) -> int:
    """Index of the first character that no longer fits in `width` cells (wide characters count 2)."""
    used = 0
    for i, ch in enumerate(line):
        used += cell_len(ch)
        if used > width:
            return i
    return len(line)


class StreamText(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    StreamText {
        height: 1fr;
        overflow-y: auto;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._chunks: list[str] = []
        self._lines: list[str] = [""]
        self._wrap = 0

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    @property
    def lines(self) -> list[str]:
        return self._lines if self._lines != [""] else []

    def _width(self) -> int:
        # Before the first layout the size is 0: wrap at a sane width, re-flow on the first resize.
        return max(self.scrollable_content_region.width, 0) or 80

    def clear(self) -> None:
        self._chunks.clear()
        self._lines = [""]
        self.virtual_size = Size(0, 0)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def append(self, text: str) -> None:
        if not text:
            return
        at_end = self.is_vertical_scroll_end or self.max_scroll_y == 0
        self._chunks.append(text)
        first = len(self._lines) - 1
        self._flow(text, self._width())
        self.virtual_size = Size(self._wrap, len(self._lines))
        self.refresh_lines(first, len(self._lines) - first)
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _flow(self, text: str, width: int) -> None:
        self._wrap = width
        lines = self._lines
        parts = text.split("\n")
        for n, part in enumerate(parts):
            if n:
                lines.append("")
            line = lines[-1] + part.replace("\t", "    ").replace("\r", "")
            while cell_len(line) > width:
                cut = _cut(line, width)
                space = line.rfind(" ", 0, cut + 1)
                # Break at the last space that fits; a word (or CJK run) longer than a line is cut.
                if space > 0:
                    lines[-1] = line[:space]
                    line = line[space + 1 :]
                else:
                    lines[-1] = line[:cut]
                    line = line[cut:]
                lines.append("")
            lines[-1] = line

    def on_resize(self) -> None:
        width = self._width()
        if width != self._wrap and self._chunks:
            self._lines = [""]
            self._flow(self.text, width)
            self.virtual_size = Size(width, len(self._lines))
            self.scroll_end(animate=False, immediate=True, x_axis=False)
            self.refresh()
        self._wrap = width

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        style = self.rich_style
        width = self.scrollable_content_region.width
        if index >= len(self._lines):
            return Strip.blank(width, style)
        return Strip([Segment(self._lines[index], style)]).crop_extend(0, width, style)
