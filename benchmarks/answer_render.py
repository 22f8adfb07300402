"""What a growth of the rendered answer costs: main-thread CPU and layout passes per append.

The answer of a recorded llama-server stream of gpt-oss-20b (a heading, a list, a table, code and a
paragraph; `tests/data/llamacpp/chat_gpt-oss-20b_b7010_markdown.sse`), `--copies` times over, or one
paragraph that only grows (`--kind paragraph`, as the demo's answers are), goes into the output panel
of a headless app in pieces of `--piece` characters (a second of a 60 tok/s model is ~240): each piece
is one append, and what it costs is the main thread's CPU from the write to the frames that drew it,
and the layout passes of the screen among those frames. Headless (`App.run_test`): the frames are
composed but not written to a terminal, so the figures are for comparing appends, not frames.

    .venv/bin/python -m benchmarks.answer_render [--kind recorded|paragraph] [--copies 8] [--piece 240]

Against another checkout's panel (its code first on the path): `PYTHONPATH=/tmp/before
.venv/bin/python benchmarks/answer_render.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import time
from pathlib import Path
from typing import Any

RECORDING = Path(__file__).parent.parent / "tests" / "data" / "llamacpp" / "chat_gpt-oss-20b_b7010_markdown.sse"


def recorded_answer() -> str:
    from backends.base import ContentDelta
    from backends.wire.openai_stream import OpenAIStreamDecoder

    decoder = OpenAIStreamDecoder()
    events = decoder.feed(RECORDING.read_bytes()) + decoder.close()
    return "".join(e.text for e in events if isinstance(e, ContentDelta))


async def done(result: Any) -> None:
    """Await what an earlier checkout's panel returns (its view was built and appended to in tasks)."""
    if inspect.isawaitable(result):
        await result


async def measure(text: str, piece: int, size: tuple[int, int]) -> tuple[list[float], list[int]]:
    from textual.app import App, ComposeResult
    from textual.screen import Screen

    from tui.widgets.output import OutputPanel

    passes = [0]
    refresh_layout = Screen._refresh_layout

    def counting(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        passes[0] += 1
        refresh_layout(self, *args, **kwargs)

    Screen._refresh_layout = counting  # type: ignore[method-assign]

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield OutputPanel()

    cpu: list[float] = []
    layouts: list[int] = []
    app = One()
    async with app.run_test(size=size) as pilot:
        out = app.query_one(OutputPanel)
        await done(out.build_view())  # type: ignore[func-returns-value]
        out.write("The user asks for a short answer.", "")
        await pilot.pause()
        for start in range(0, len(text), piece):
            passes[0] = 0
            began = time.thread_time()
            out.write("", text[start : start + piece], live=True)
            await done(out.settle())  # type: ignore[func-returns-value]
            await pilot.pause()
            await pilot.pause()
            cpu.append(1e3 * (time.thread_time() - began))
            layouts.append(passes[0])
        assert out.rendered == text
    Screen._refresh_layout = refresh_layout  # type: ignore[method-assign]
    return cpu, layouts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--kind", choices=["recorded", "paragraph"], default="recorded")
    ap.add_argument("--copies", type=int, default=8, help="the recorded answer this many times over")
    ap.add_argument("--piece", type=int, default=240, help="characters per append")
    ap.add_argument("--size", default="60x30", help="the panel's app size, columns x rows")
    a = ap.parse_args()
    if a.kind == "recorded":
        text = "\n\n".join([recorded_answer()] * a.copies)
    else:
        words = "the keeper counts the waves and writes each number in the log before the lamp is lit "
        text = (words * (a.copies * 60))[: a.copies * 700]
    cols, rows = (int(v) for v in a.size.split("x"))
    cpu, layouts = asyncio.run(measure(text, a.piece, (cols, rows)))
    print(f"{len(cpu)} appends of {a.piece} characters ({len(text)} in all, {a.kind}), panel app {a.size}")
    print(f"main-thread CPU per append (write to drawn): median {statistics.median(cpu):.1f} ms, "
          f"mean {statistics.fmean(cpu):.1f}, max {max(cpu):.1f}; last quarter median "
          f"{statistics.median(cpu[-max(len(cpu) // 4, 1):]):.1f} ms")  # fmt: skip
    print(f"layout passes: {sum(layouts)} in all, {sum(layouts) / len(layouts):.2f} per append")


if __name__ == "__main__":
    main()
