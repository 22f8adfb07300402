"""A scrolling text view for streamed tokens: appends wrap only the new text, never the whole.

Textual's Log does not wrap and RichLog writes whole renderables per call; a model's answer is long
paragraphs that arrive a few words at a time. This keeps the wrapped lines and the line being
written, so an append costs the size of the append (plus one line), and a line is re-rendered only
when it changes (the Line API). The whole text is re-flowed once per width change, not per token.

While the view is not shown (display: none, its own or an ancestor's: the raw answer behind the
Markdown, folded reasoning, another view) an append only keeps the text. Growing a scroll view's
virtual size asks for a layout pass of the whole screen, and a hidden view asked for one on every
flush of a run (benchmarks/observer.py); the text is wrapped once when the view is shown again.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual.dom import DOMNode
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget


def _cut(line: str, width: int) -> int:
    """Index of the first character that no longer fits in `width` cells (wide characters count 2)."""
    used = 0
    for i, ch in enumerate(line):
        used += cell_len(ch)
        if used > width:
            return i
    return len(line)


class LineView(ScrollView):
    """A scroll view drawn line by line (the Line API) whose text grows at its end: what the streamed
    views share. A view that is not shown keeps what is appended and lays it out when shown."""

    DEFAULT_CSS = """
    LineView {
        height: 1fr;
        overflow-y: auto;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._wrap = 0  # the width the text is laid out for
        self._stale = False  # text appended (or cleared) while hidden, not laid out yet

    def _emptied(self) -> None:
        """The text is gone: the view's size and scroll follow now, or when it is shown."""
        if not self.shown:
            self._stale = True
            return
        self._stale = False
        self._sized(Size(self._wrap, 0))
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    @property
    def shown(self) -> bool:
        """Displayed, and so are its containers (a hidden view keeps its text without wrapping it)."""
        node: DOMNode | None = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            node = node.parent
        return True

    def _width(self) -> int:
        # Before the first layout the size is 0: wrap at a sane width, re-flow on the first resize.
        return max(self.scrollable_content_region.width, 0) or 80

    def _sized(self, size: Size) -> None:
        """The text is now `size`. Textual's `virtual_size` asks for a layout pass of the whole screen
        (~10 ms on a 2-core machine, taken from a model computing on it), which only a view whose box
        changes with its text needs: one of `height: auto` (the reasoning) below its max-height before
        or after. A view whose box stays as it is (the answers, `1fr`; the reasoning while it overflows
        its capped box) takes the new size in place: its scrollbar's span and its scroll position, and
        a layout pass only when its scrollbar appears or goes (it takes a column)."""
        if size == self.virtual_size:
            return
        height = self.styles.height
        box = self.scrollable_content_region.height
        capped = self.virtual_size.height > box > 0 and size.height >= box
        if height is None or (height.is_auto and not capped):
            self.virtual_size = size
            return
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)  # shows the scrollbar when it is needed: that is a layout pass then

    _pinned = True  # the view shows its end (and follows it) as far as the reader's scrolling says

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._pinned = new_value >= self.max_scroll_y

    def _keep_end(self) -> None:
        """After a resize: a view that showed its end shows it again (a box that lost a row to its
        neighbour would otherwise hide the newest line)."""
        if self._pinned and self.scroll_y != self.max_scroll_y:
            self._to_end()

    def _to_end(self) -> None:
        # A view just shown has no scrollbars until its layout pass: `force`, or the scroll is ignored.
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)


class StreamText(LineView, can_focus=True):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._chunks: list[str] = []
        self._lines: list[str] = [""]

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    @property
    def lines(self) -> list[str]:
        if self._stale:
            self._reflow(self._width())
        return self._lines if self._lines != [""] else []

    def clear(self) -> None:
        self._chunks.clear()
        self._lines = [""]
        self._emptied()

    def append(self, text: str) -> None:
        if not text:
            return
        if self._stale or not self.shown:
            self._chunks.append(text)
            self._stale = True
            return
        at_end = self._pinned
        self._chunks.append(text)
        first = len(self._lines) - 1
        self._flow(text, self._width())
        self._sized(Size(self._wrap, len(self._lines)))
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

    def _reflow(self, width: int) -> None:
        self._stale = False
        self._lines = [""]
        self._flow(self.text, width)
        bar = self.styles.scrollbar_size_vertical
        if len(self._lines) > self.size.height > 0 and not self.show_vertical_scrollbar and width > bar > 0:
            # The text will overflow and its scrollbar takes columns it does not have yet (a view
            # shown with all its text at once gets no resize when the scrollbar appears).
            self._lines = [""]
            self._flow(self.text, width - bar)
        self.virtual_size = Size(self._wrap, len(self._lines))

    def catch_up(self) -> None:
        """Wrap what arrived while hidden (called when shown; harmless otherwise)."""
        if self._stale and self.shown:
            self._reflow(self._width())
            self._to_end()
            self.refresh()

    def on_show(self) -> None:
        self.catch_up()

    def on_resize(self) -> None:
        width = self._width()
        if (width != self._wrap or self._stale) and self._chunks:
            self._reflow(width)
            self._to_end()
            self.refresh()
        else:
            self._keep_end()
        self._wrap = width

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        style = self.rich_style
        width = self.scrollable_content_region.width
        if index >= len(self._lines):
            return Strip.blank(width, style)
        return Strip([Segment(self._lines[index], style)]).crop_extend(0, width, style)
