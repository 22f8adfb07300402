"""The fleet screen (`f`): every host of the pattern file side by side, refreshed at the sampling
interval; `f` or escape goes back. Reading the hosts never waits: each is sampled in its own thread."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from backends.probes.remote import HostSamplers, HostView
from backends.runs.patterns import Pattern
from tui.services import Services
from tui.widgets.fleet import FleetPanel


def fleet_views(services: Services) -> list[HostView]:
    sampler = services.sampler
    if isinstance(sampler, HostSamplers):
        return sampler.views()
    name = socket.gethostname().split(".")[0] or "local"
    snap = sampler.latest if sampler is not None else None
    return [HostView(name, "local", snap, 0.0 if snap is not None else None, None, snap is None)]


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "app.pop_screen", "Back"),
        Binding("escape", "app.pop_screen", "Back", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, services: Services, running: Callable[[], Pattern | None] = lambda: None) -> None:
        super().__init__()
        self.services = services
        self._running_now = running

    def compose(self) -> ComposeResult:
        yield FleetPanel()
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_fleet()
        self.set_interval(self.services.interval, self.refresh_fleet)

    def refresh_fleet(self) -> None:
        views = fleet_views(self.services)
        running: dict[str, str] = {}
        pattern = self._running_now()
        if pattern is not None:
            remote = pattern.host is not None and any(v.name == pattern.host for v in views[1:])
            running[pattern.host if remote and pattern.host else views[0].name] = pattern.name
        self.query_one(FleetPanel).show(views, running)


async def apply_hosts(services: Services) -> None:
    """A reloaded file's hosts: start the new ones, stop the dropped ones, and tell the backend pool."""
    s = services
    s.pool.hosts = dict(s.hosts)
    if isinstance(s.sampler, HostSamplers):
        await s.sampler.update(s.hosts)
    elif s.hosts:
        s.sampler = HostSamplers(s.sampler, s.hosts, s.interval)
        await s.sampler.start()  # the local sampler is running already: only the hosts start
