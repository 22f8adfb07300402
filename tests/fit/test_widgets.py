"""The fit mark in the pattern list and the fit bar of the hardware view."""

from __future__ import annotations

from textual.app import App, ComposeResult

from backends.probes.model import GpuSample, HostSample, Snapshot
from backends.runs.fit import Budget, estimate
from backends.runs.fit.api import unknown
from backends.runs.patterns import parse_patterns
from tui.widgets.fitbar import FitBar, fit_text, stacked
from tui.widgets.patterns import PatternList, mark_text

GIB = 1 << 30
PATS = parse_patterns({"patterns": [
    {"name": "A", "backend": "lmstudio", "model": "openai/gpt-oss-20b", "context_length": 4096, "gpu_layers": 24},
    {"name": "B", "backend": "lmstudio", "model": "openai/gpt-oss-20b", "context_length": 4096, "gpu_layers": 12},
    {"name": "C", "backend": "lmstudio", "model": "mystery-7b", "context_length": 4096},
]}, "test").patterns  # fmt: skip
SNAP = Snapshot(0.0, gpus=(GpuSample("amd", 0, "RX 9070", "sysfs", vram_total_bytes=16 * GIB, vram_used_bytes=GIB),),
                host=HostSample(mem_total_bytes=64 * GIB, mem_available_bytes=50 * GIB))  # fmt: skip


def test_stacked_bar_reads_without_colour() -> None:
    bar = stacked((20, 10, 10), 80, width=8).plain
    assert bar == "██▓▒░░░░"
    assert stacked((60, 30, 30), 100, width=8).plain.endswith("!")  # over the budget


def test_fit_text_shows_each_side_and_what_would_fit() -> None:
    est = estimate(PATS[0], SNAP)
    text = fit_text(est).plain
    assert text.startswith("fits  A  from card")
    assert "\nGPU  " in text and "\nhost " in text and "█ weights ▓ KV ▒ compute ░ free" in text
    assert "gpu_layers ≤ 24, n_cpu_moe ≥ 0" in text
    after = fit_text(est, loaded=(12 * GIB, GIB)).plain
    assert "loaded: GPU 12.0 GiB, host 1.0 GiB\npredicted: GPU 11.0 GiB, host 592 MiB" in after


def test_fit_text_of_an_unknown_model_gives_the_reason() -> None:
    text = fit_text(unknown(PATS[2], "mystery-7b: no built-in card")).plain
    assert text.splitlines() == ["unknown  C", "mystery-7b: no built-in card"]
    assert fit_text(None).plain == "estimating…"


def test_marks() -> None:
    assert mark_text(estimate(PATS[0], SNAP)).plain == "fits"
    assert mark_text(estimate(PATS[1], SNAP)).plain == "spills"
    assert mark_text(estimate(PATS[0], budget=Budget(None, GIB, no_gpu=True))).plain == "swap"
    assert mark_text(estimate(PATS[2], SNAP)).plain == "?"
    assert mark_text(None).plain == ""


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PatternList(id="patterns")
        yield FitBar(id="fit")


async def test_pattern_list_shows_marks_once_estimated() -> None:
    app = ListApp()
    async with app.run_test(size=(60, 10)) as pilot:
        plist = app.query_one(PatternList)
        plist.set_patterns(list(PATS))
        await pilot.pause()
        assert [str(plist.get_option_at_index(i).prompt).split()[1:3] for i in range(3)] == [
            ["A", "ctx"], ["B", "ctx"], ["C", "ctx"]]  # fmt: skip
        plist.set_marks({p.name: estimate(p, SNAP) for p in PATS})
        await pilot.pause()
        words = [str(plist.get_option_at_index(i).prompt).split()[2] for i in range(3)]
        assert words == ["fits", "spills", "?"]
        plist.set_patterns(list(PATS))  # a reload keeps the marks of patterns still there
        assert str(plist.get_option_at_index(1).prompt).split()[2] == "spills"
        app.query_one(FitBar).show(plist.mark_of("B"))
        await pilot.pause()
