"""Hosts that fail: down before a sweep, dying in the middle, slower than the sampling interval.
The screen and the run never wait for them; the figures go stale with their age and the error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from backends.probes.remote import HostSamplers, RemoteSampler, missing_telemetry, parse_source, sampler_for
from backends.servers.llamaserver import free_port
from tests.fleet.conftest import Agent, Canned


async def test_a_host_down_from_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    src = parse_source(f"agent+http://127.0.0.1:{free_port()}")
    sampler = RemoteSampler(src, interval_s=0.2)
    t0 = time.monotonic()
    await sampler.start()
    await asyncio.sleep(0.8)
    await sampler.stop()
    snap = sampler.latest
    assert snap is not None and snap.errors == (f"{src.text}: connection refused (is it running?)",)
    note = sampler.missing(t0, time.monotonic())
    assert note == (f"no telemetry from {src.text} during the run ({src.text}: connection refused (is it "
                    "running?)); its memory peaks are null")  # fmt: skip
    peaks = sampler.peaks(t0)
    assert (peaks.peak_ram_used_bytes, peaks.peak_vram_bytes, peaks.memory_pressure_peak) == (None, None, None)


async def test_a_host_that_dies_in_the_middle(agents: Callable[..., Agent]) -> None:
    agent = agents()
    sampler = RemoteSampler(parse_source(agent.source), interval_s=0.2)
    t0 = time.monotonic()
    await sampler.start()
    try:
        deadline = time.monotonic() + 10
        while len(sampler.history) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        agent.proc.kill()
        agent.proc.wait(10)
        await asyncio.sleep(1.0)
    finally:
        await sampler.stop()
    good = len(sampler.history)
    assert good >= 3
    note = sampler.missing(t0, time.monotonic())
    assert note is not None and note.startswith(f"telemetry from {agent.source} missing for part of the run (")
    assert f"peaks are from the {good} readings that arrived" in note
    assert sampler.peaks(t0).peak_ram_used_bytes is not None  # the figures that did arrive count
    f = sampler.freshness()
    assert f.stale and f.error is not None and "connection refused" in f.error
    latest = sampler.latest
    assert latest is not None and latest.host is not None  # last good figures, still shown ...
    assert latest.errors[-1].startswith("stale, ")  # ... marked with their age and the error
    assert latest.errors[-1].endswith("connection refused (is it running?)")


async def test_a_host_slower_than_the_interval_never_holds_anyone_up(canned: Callable[..., Canned]) -> None:
    slow = canned("{}", delay_s=3.0, ctype="application/json")
    sampler = RemoteSampler(parse_source(f"agent+{slow.url}"), interval_s=0.5)
    assert sampler.timeout_s == 1.0
    await sampler.start()
    try:
        await asyncio.sleep(0.2)  # a read is in flight
        t = time.monotonic()
        sampler.sample_now()  # what a run does before and after streaming
        assert time.monotonic() - t < 0.1
        # The event loop keeps its pace while reads hang in the sampler's own thread.
        ticks = 0
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            await asyncio.sleep(0.05)
            ticks += 1
        assert ticks >= 30
    finally:
        await sampler.stop()
    # One read at a time: about one per time-out, never a pile of them.
    assert 2 <= slow.hits <= 4
    assert sampler.freshness().error == f"agent+{slow.url}: no answer within 1 s"


async def test_two_agents_are_two_hosts(agents: Callable[..., Agent]) -> None:
    a, b = agents(), agents()
    local = RemoteSampler(parse_source(a.source))  # stands in for this machine's sampler
    hosts = HostSamplers(local, {"here": "local", "left": a.source, "right": b.source}, interval_s=0.3)
    assert sampler_for(hosts, None) is local and sampler_for(hosts, "here") is local
    left, right = sampler_for(hosts, "left"), sampler_for(hosts, "right")
    assert isinstance(left, RemoteSampler) and isinstance(right, RemoteSampler) and left is not right
    assert (left.source.text, right.source.text) == (a.source, b.source)
    assert hosts.source_of("right") == b.source and hosts.source_of("here") == "local"
    await hosts.start()
    try:
        deadline = time.monotonic() + 10
        while not (left.history and right.history) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        b.proc.kill()
        b.proc.wait(10)
        await asyncio.sleep(1.2)
        views = {v.name: v for v in hosts.views()}
    finally:
        await hosts.stop()
    assert set(views) == {"here", "left", "right"}
    assert not views["left"].stale and views["left"].snapshot is not None
    assert views["right"].stale and "connection refused" in str(views["right"].error)
    assert views["right"].snapshot is not None  # the last good figures stay, marked stale
    assert missing_telemetry(left, 0.0, None) is None
    assert "missing for part of the run" in str(missing_telemetry(right, 0.0, None))


async def test_a_reloaded_file_keeps_running_hosts_and_stops_dropped_ones(agents: Callable[..., Agent]) -> None:
    a = agents()
    hosts = HostSamplers(None, {"a": a.source, "gone": "agent+http://127.0.0.1:9"}, interval_s=0.3)
    await hosts.start()
    kept = _r(hosts, "a")
    dropped = _r(hosts, "gone")
    await hosts.update({"a": a.source})
    try:
        assert hosts.remote("a") is kept and kept.running
        assert not dropped.running and hosts.remote("gone") is None
    finally:
        await hosts.stop()


def _r(hosts: HostSamplers, name: str) -> RemoteSampler:
    r = hosts.remote(name)
    assert r is not None, name
    return r
