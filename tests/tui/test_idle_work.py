"""What the app does while nobody looks: a hidden view is not redrawn every sampler tick."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.probes.fake import fake_snapshots
from tests.tui.conftest import StaticSampler
from tui.app import GptossTop
from tui.widgets.hardware import HardwarePanel


class TickingSampler(StaticSampler):
    """A new snapshot on every read of `latest`, as a live sampler has one every interval."""

    def __init__(self) -> None:
        super().__init__(fake_snapshots(8))
        self.reads = 0

    @property
    def latest(self) -> Any:
        self.reads += 1
        return self._history[self.reads % len(self._history)]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    original = HardwarePanel.show_snapshot

    def spy(self: HardwarePanel, snapshot: Any) -> None:
        calls.append(snapshot)
        original(self, snapshot)

    monkeypatch.setattr(HardwarePanel, "show_snapshot", spy)
    return calls


async def test_hidden_hardware_view_is_not_redrawn(build: Callable[..., GptossTop], drawn: list[object]) -> None:
    app = build(sampler=TickingSampler(), interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.4)  # ~8 sampler intervals with the output view in front
        assert drawn == []
        await pilot.press("h")
        await pilot.pause(0.3)
        shown = len(drawn)
        assert shown >= 2  # drawn at once, then every interval while it is in view
        await pilot.press("o")
        await pilot.pause(0.3)
        assert len(drawn) <= shown + 1


async def test_roomy_layout_redraws_hardware_every_interval(
    build: Callable[..., GptossTop], drawn: list[object]
) -> None:
    app = build(sampler=TickingSampler(), interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.4)
        assert len(drawn) >= 3


class ServerSampler(StaticSampler):
    """A local llama-server whose CPU and RSS change on every read of `latest`, as they do mid-run."""

    def __init__(self) -> None:
        from backends.probes.model import HostSample, Snapshot

        super().__init__([
            Snapshot(t=float(n), host=HostSample(
                mem_total_bytes=24 << 30, mem_available_bytes=(23 << 30) - n * (7 << 20),
                backend_pid=272700 + n, backend_name="llama-server", backend_rss_bytes=(200 + 37 * n) << 20,
                backend_cpu_percent=(9.0, 194.0, 1195.0, 37.5)[n % 4]))
            for n in range(8)
        ])  # fmt: skip
        self.reads = 0

    @property
    def latest(self) -> Any:
        self.reads += 1
        return self._history[self.reads % len(self._history)]


async def test_the_server_line_keeps_the_memory_panel_to_its_shape(
    build: Callable[..., GptossTop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's pid, RSS and CPU change every sample; in the roomy layout's 44-column panel they
    used to wrap mid-figure on one line, so each sample changed the panel's shape: a layout pass of
    the whole screen every second, mid-run too. Now each sample is a repaint in place."""
    from textual.widgets import Static

    from tui.widgets.hardware import Figures

    layouts: list[str] = []
    update = Static.update

    def spy(self: Static, *args: Any, layout: bool = True, **kw: Any) -> None:
        # Once the panel is on screen (before its first layout it has no width, and on a loaded machine
        # several samples at this test's 20 Hz come before that layout: one pass draws them all)
        if isinstance(self, Figures) and self.id == "memory" and layout and self.content_region.width > 0:
            layouts.append(str(args[0]))
        update(self, *args, layout=layout, **kw)

    monkeypatch.setattr(Static, "update", spy)
    app = build(sampler=ServerSampler(), interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.6)  # ~12 samples
        memory = app.main.query_one("#memory", Figures)
        assert "llama-server" in str(memory._last)
        assert max(map(len, str(memory._last).splitlines())) <= memory.content_region.width
    assert len(layouts) <= 2, layouts  # the first real sample (and its first change of shape), then repaints only
