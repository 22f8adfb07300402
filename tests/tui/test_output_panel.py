"""The output panel's layout: reasoning takes the rows it needs (up to 45 %), the answer the rest."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen

from tui.widgets import markdown_text
from tui.widgets.output import OutputPanel


class OneOutput(App[None]):
    def compose(self) -> ComposeResult:
        yield OutputPanel()


async def test_reasoning_takes_only_its_rows_and_a_blank_line_ends_it() -> None:
    app = OneOutput()
    async with app.run_test(size=(60, 30)) as pilot:
        out = app.query_one(OutputPanel)
        inner = out.content_region.height  # 28 rows inside the border
        await pilot.pause()
        assert out.reasoning.size.height == 0  # no reasoning: the answer has the panel
        assert out.markdown.size.height == inner - 1  # all but the fold line

        out.write("THINK " * 20, "")  # 120 characters: three rows at 58 columns
        await pilot.pause()
        assert out.reasoning.size.height == len(out.reasoning.lines) == 3
        assert out.markdown.region.y == out.reasoning.region.bottom + 1  # one blank row between them

        out.write("".join(f"STEP {i}\n" for i in range(60)), "the answer")
        await pilot.pause()
        assert out.reasoning.size.height == int(inner * 0.45)  # long reasoning is capped and scrolls ...
        assert out.reasoning.is_vertical_scroll_end  # ... showing its latest lines
        assert out.markdown.size.height >= inner // 2

        out.reset("next")
        await pilot.pause()
        assert out.reasoning.size.height == 0 and out.markdown.size.height == inner - 1


async def test_text_that_only_scrolls_its_view_asks_for_no_layout_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A layout pass re-arranges the whole screen (~10 ms of a core a model may be computing on). Text
    added to a view whose box keeps its size (the reasoning once at its 45 %, the raw answer) needs
    none: the view scrolls to its newest line in place."""
    passes: list[int] = []
    refresh_layout = Screen._refresh_layout

    def counting(self: Screen[object], *args: Any, **kwargs: Any) -> None:
        passes.append(1)
        refresh_layout(self, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counting)
    app = OneOutput()
    async with app.run_test(size=(60, 30)) as pilot:
        out = app.query_one(OutputPanel)
        out.toggle_raw()
        out.write("".join(f"STEP {i}\n" for i in range(40)), "".join(f"ANSWER {i}\n" for i in range(40)))
        await pilot.pause()
        capped = out.reasoning.size.height
        assert capped == int(out.content_region.height * 0.45) and out.reasoning.show_vertical_scrollbar
        assert out.answer.show_vertical_scrollbar

        passes.clear()
        for i in range(40, 46):
            out.write(f"STEP {i}\n", f"ANSWER {i}\n")
            await pilot.pause()
        assert passes == []
        assert out.reasoning.size.height == capped
        for view, word in ((out.reasoning, "STEP"), (out.answer, "ANSWER")):
            assert view.is_vertical_scroll_end
            assert view.vertical_scrollbar.window_virtual_size == view.virtual_size.height == 46 + 1
            shown = [view.render_line(y).text.strip() for y in range(view.scrollable_content_region.height)]
            assert f"{word} 45" in shown  # the newest line is on screen


async def test_a_view_that_grows_with_its_text_is_laid_out() -> None:
    app = OneOutput()
    async with app.run_test(size=(60, 30)) as pilot:
        out = app.query_one(OutputPanel)
        for rows in range(1, 6):
            out.write("STEP\n" if rows > 1 else "STEP", "")
            await pilot.pause()
            assert out.reasoning.size.height == rows  # the reasoning's box follows its text


async def test_the_renderer_is_ready_before_the_first_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first append of a session imported the renderer and compiled the parser's and the code
    highlighter's regular expressions while the model decoded; building the view (before the request)
    does it now."""
    import re

    re.purge()
    markdown_text.warm.cache_clear()  # as in a fresh process
    app = OneOutput()
    async with app.run_test(size=(60, 30)) as pilot:
        out = app.query_one(OutputPanel)
        out.build_view()
        compiled: list[object] = []
        compile_ = re._compiler.compile  # type: ignore[attr-defined]
        renderer = ("/markdown_it/", "/rich/", "/pygments/")

        def counting(*args: Any, **kwargs: Any) -> Any:
            frame = sys._getframe(1)
            while frame is not None:
                if any(part in frame.f_code.co_filename for part in renderer):
                    compiled.append(args[0])
                    break
                frame = frame.f_back  # type: ignore[assignment]
            return compile_(*args, **kwargs)

        monkeypatch.setattr(re._compiler, "compile", counting)  # type: ignore[attr-defined]
        out.write("", "## See\n\n1. **this** and `that` at https://example.org\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n")
        out.write("", "```python\nfor n in range(3):\n    print(f'{n}')\n```\n\n> done\n")
        out.settle()
        await pilot.pause()
        assert "example.org" in out.rendered
        assert any("print(f'{n}')" in line.text for line in out.markdown.lines)
        assert compiled == []
