"""The TUI with a pattern file of two hosts: the hardware view names and shows the selected pattern's
host, `f` puts every host side by side, and a dead host is shown stale instead of stopping anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from backends.probes.remote import HostSamplers, RemoteSampler
from backends.servers.llamaserver import free_port
from tests.fleet.conftest import Agent
from tests.probes.fake import fake_snapshots
from tests.tui.conftest import StaticSampler
from tui.app import make_app
from tui.screens.fleet import FleetScreen
from tui.screens.main import MainScreen
from tui.widgets.fleet import FleetPanel
from tui.widgets.hardware import HardwarePanel
from tui.widgets.header import HeaderBar


def write_file(tmp: Path, mini: str, gone: str) -> Path:
    f = tmp / "hosts.toml"
    f.write_text('[defaults]\nbackend = "llamacpp"\nurl = "http://127.0.0.1:9"\nmodel = "m"\nprompt = "p"\n\n'
                 '[hosts.main]\ntelemetry = "local"\n\n'
                 f'[hosts.mini]\ntelemetry = "{mini}"\n\n[hosts.gone]\ntelemetry = "{gone}"\n\n'
                 '[[patterns]]\nname = "A"\nhost = "main"\n\n[[patterns]]\nname = "C"\nhost = "mini"\n\n'
                 '[[patterns]]\nname = "G"\nhost = "gone"\n')  # fmt: skip
    return f


async def test_hardware_view_titles_its_host_and_f_shows_the_fleet(
    agents: Callable[..., Agent], tmp_path: Path
) -> None:
    mini = agents()
    gone = f"agent+http://127.0.0.1:{free_port()}"
    app = make_app(config=str(write_file(tmp_path, mini.source, gone)), sampler=StaticSampler(fake_snapshots(3)),
                   interval=0.2, health_interval=0)  # fmt: skip
    async with app.run_test(size=(80, 24)) as pilot:
        hosts = app.services.sampler
        assert isinstance(hosts, HostSamplers)
        await pilot.press("h")
        await pilot.pause(0.3)
        hw = app.screen.query_one(HardwarePanel)
        assert hw.query_one("#gpu").border_title == "GPU · main"
        await pilot.press("2")  # C, on the mini
        for _ in range(50):
            await pilot.pause(0.1)
            if _r(hosts, "mini").history and hw.query_one("#memory").border_title == "Memory · mini":
                break
        assert hw.query_one("#memory").border_title == "Memory · mini"
        assert "pattern C  ctx default · gpu default @ mini" in str(app.screen.query_one(HeaderBar).render())
        await pilot.press("f")
        assert isinstance(app.screen, FleetScreen)
        await pilot.pause(0.6)
        shown = str(app.screen.query_one(FleetPanel).query_one("#fleet").render())
        assert "main  local  fresh" in shown
        assert f"mini  {mini.source}  fresh" in shown
        assert f"gone  {gone}  no reading: connection refused" in shown
        await pilot.press("f")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("3")  # G, on the host that never answers: the hardware view says why
        for _ in range(30):
            await pilot.pause(0.1)
            if "connection refused" in str(hw.query_one("#gpu").render()):
                break
        assert hw.query_one("#gpu").border_title == "GPU · gone"
        assert f"{gone}: connection refused" in str(hw.query_one("#gpu").render())
        assert "no reading from this host" in str(hw.query_one("#gpu").render())
    assert not _r(hosts, "mini").running  # stopped with the app


async def test_reloading_a_file_that_gained_a_host(agents: Callable[..., Agent], tmp_path: Path) -> None:
    mini = agents()
    f = tmp_path / "one.toml"
    f.write_text(
        '[[patterns]]\nname = "A"\nbackend = "llamacpp"\nurl = "http://127.0.0.1:9"\nmodel = "m"\nprompt = "p"\n'
    )
    app = make_app(config=str(f), sampler=StaticSampler(fake_snapshots(3)), interval=0.2, health_interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        assert not isinstance(app.services.sampler, HostSamplers)
        f.write_text(f'[hosts.mini]\ntelemetry = "{mini.source}"\n\n' + f.read_text() + 'host = "mini"\n')
        await pilot.press("ctrl+r")
        for _ in range(50):
            await pilot.pause(0.1)
            hosts = app.services.sampler
            if isinstance(hosts, HostSamplers) and _r(hosts, "mini").history:
                break
        hosts = app.services.sampler
        assert isinstance(hosts, HostSamplers) and _r(hosts, "mini").history
        assert app.services.pool.hosts == {"mini": mini.source}


def _r(hosts: HostSamplers, name: str) -> RemoteSampler:
    r = hosts.remote(name)
    assert r is not None, name
    return r
