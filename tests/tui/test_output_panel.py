"""The output panel's layout: reasoning takes the rows it needs (up to 45 %), the answer the rest."""

from __future__ import annotations

from textual.app import App, ComposeResult

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
        assert out.answer_box.size.height == inner - 1  # all but the fold line

        out.write("THINK " * 20, "")  # 120 characters: three rows at 58 columns
        await pilot.pause()
        assert out.reasoning.size.height == len(out.reasoning.lines) == 3
        assert out.answer_box.region.y == out.reasoning.region.bottom + 1  # one blank row between them

        out.write("".join(f"STEP {i}\n" for i in range(60)), "the answer")
        await pilot.pause()
        assert out.reasoning.size.height == int(inner * 0.45)  # long reasoning is capped and scrolls ...
        assert out.reasoning.is_vertical_scroll_end  # ... showing its latest lines
        assert out.answer_box.size.height >= inner // 2

        out.reset("next")
        await pilot.pause()
        assert out.reasoning.size.height == 0 and out.answer_box.size.height == inner - 1
