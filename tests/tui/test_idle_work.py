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
