"""The fleet view: every host side by side, with how fresh each figure is."""

from __future__ import annotations

from textual.app import App, ComposeResult

from backends.probes.model import GpuSample, HostSample, Snapshot
from backends.probes.remote import HostView
from tui.widgets.fleet import FleetPanel, fleet_text

GIB = 1 << 30
MAIN = HostView("main", "local", Snapshot(
    t=1.0, gpus=(GpuSample("amd", 0, "RX 9070", "sysfs", util_percent=97.0, mem_used_bytes=13 * GIB,
                           mem_total_bytes=16 * GIB),),
    host=HostSample(mem_total_bytes=128 * GIB, mem_available_bytes=100 * GIB, mem_used_bytes=28 * GIB,
                    swap_total_bytes=8 * GIB, swap_used_bytes=0, pressure="normal")), 0.0, None, False)  # fmt: skip
MINI = HostView("mini", "ssh://mac-mini.local", Snapshot(
    t=1.0, gpus=(GpuSample("apple", 0, "Apple M4", "ioreg", util_percent=88.0, mem_used_bytes=11 * GIB,
                           mem_total_bytes=16 * GIB, unified=True),),
    host=HostSample(mem_total_bytes=16 * GIB, mem_available_bytes=1 * GIB, mem_used_bytes=15 * GIB,
                    pressure="warn")), 12.4, "ssh://mac-mini.local: no answer within 5 s", True)  # fmt: skip
WAITING = HostView("exo", "exo+http://10.0.0.5:52415", None, None, None, True)


def test_each_host_with_memory_gpu_pattern_and_freshness() -> None:
    text = fleet_text([MAIN, MINI, WAITING], {"mini": "C"}).plain
    main, mini, exo = text.split("\n\n")
    assert main.startswith("main  local  fresh")
    assert "28.0/128.0 GiB" in main and "pressure normal" in main
    assert "13.0/16.0 GiB  util 97%  RX 9070" in main and "running —" in main
    assert mini.startswith("mini  ssh://mac-mini.local  stale, 12 s old: no answer within 5 s")
    assert "pressure warn" in mini and "util 88%" in mini and "running C" in mini
    assert "waiting for the first reading" in exo
    dead = HostView("dead", "agent+http://x:9464", None, None, "agent+http://x:9464: connection refused", True)
    assert fleet_text([dead]).plain.startswith("dead  agent+http://x:9464  no reading: connection refused")


async def test_the_panel_fits_80x24() -> None:
    class Fleet(App[None]):
        def compose(self) -> ComposeResult:
            yield FleetPanel()

    app = Fleet()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(FleetPanel)
        panel.show([MAIN, MINI], {"main": "A"})
        await pilot.pause()
        shown = str(panel.query_one("#fleet").render())
        assert "running A" in shown and "mac-mini.local" in shown
