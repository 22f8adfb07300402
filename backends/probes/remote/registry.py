"""Every host of a pattern file with its sampler: this machine's Sampler for `local` (and for patterns
without a host), a RemoteSampler for each other source.

`HostSamplers` also answers as the local Sampler (latest, history, peaks, ...), so code that knows
one sampler keeps working; a run asks `for_host(pattern.host)` for the one whose peaks it records.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from backends.probes.model import Peaks, Snapshot
from backends.probes.remote.sampler import Freshness, RemoteSampler
from backends.probes.remote.source import SourceError, TelemetrySource, parse_source
from backends.probes.sampler import HardwareSampler

LOCAL = "local"


@dataclass(frozen=True)
class HostView:
    """One row of the fleet view."""

    name: str
    source: str
    snapshot: Snapshot | None
    age_s: float | None
    error: str | None
    stale: bool


class HostSamplers:
    def __init__(
        self,
        local: HardwareSampler | None,
        hosts: Mapping[str, str] | None = None,
        interval_s: float = 1.0,
        factory: Callable[[TelemetrySource, float], RemoteSampler] | None = None,
    ) -> None:
        self.local = local
        self.interval_s = interval_s
        self._factory = factory or (lambda src, iv: RemoteSampler(src, interval_s=iv))
        self._sources: dict[str, TelemetrySource] = {}
        self._remote: dict[str, RemoteSampler] = {}
        self._started = False
        self.set_hosts(hosts or {})

    # -- the fleet ---------------------------------------------------------------------------------

    def set_hosts(self, hosts: Mapping[str, str]) -> list[RemoteSampler]:
        """(Re)read `{name: telemetry}`; returns samplers no longer used (stop them with `retire`)."""
        old = dict(self._remote)
        self._sources, self._remote = {}, {}
        for name, text in hosts.items():
            try:
                src = parse_source(text)
            except SourceError:
                continue  # the pattern file's parser reports it with file and line
            self._sources[name] = src
            if src.is_local:
                continue
            prev = old.pop(name, None)
            keep = prev is not None and prev.source == src
            self._remote[name] = prev if keep and prev is not None else self._factory(src, self._interval_for(src))
            if prev is not None and not keep:
                old[name] = prev
        return list(old.values())

    def _interval_for(self, src: TelemetrySource) -> float:
        # Each ssh read is a new connection and a process start on the far side.
        return max(self.interval_s, 2.0) if src.kind == "ssh" else self.interval_s

    def for_host(self, name: str | None) -> HardwareSampler | None:
        """The sampler whose figures belong to a pattern's host (None or a local host: this machine)."""
        if name is not None and name in self._remote:
            return self._remote[name]
        return self.local

    def remote(self, name: str) -> RemoteSampler | None:
        """The sampler of a host that is not this machine; None for a local or unknown one."""
        return self._remote.get(name)

    def source_of(self, name: str | None) -> str:
        src = self._sources.get(name) if name is not None else None
        return src.text if src is not None else LOCAL

    def names(self) -> list[str]:
        return list(self._sources)

    def views(self) -> list[HostView]:
        """This machine first, then each host of the file in its order (local hosts share its row)."""
        snap = self.local.latest if self.local is not None else None
        rows = [HostView(self.local_name(), LOCAL, snap, 0.0, None, False)]
        for name, src in self._sources.items():
            if src.is_local:
                continue
            f: Freshness = self._remote[name].freshness()
            rows.append(HostView(name, src.text, f.snapshot, f.age_s, f.error, f.stale))
        return rows

    def local_name(self) -> str:
        local_hosts = [n for n, s in self._sources.items() if s.is_local]
        return local_hosts[0] if local_hosts else (socket.gethostname().split(".")[0] or LOCAL)

    async def start(self) -> None:
        self._started = True
        if self.local is not None:
            await self.local.start()
        for r in self._remote.values():
            await r.start()

    async def update(self, hosts: Mapping[str, str]) -> None:
        """A reloaded pattern file: start new hosts, stop the ones it no longer has."""
        await self.retire(self.set_hosts(hosts))
        if self._started:
            for r in self._remote.values():
                await r.start()

    @staticmethod
    async def retire(samplers: list[RemoteSampler]) -> None:
        for r in samplers:
            await r.stop()
            r.close()

    async def stop(self) -> None:
        self._started = False
        for r in self._remote.values():
            await r.stop()
            r.close()
        if self.local is not None:
            with contextlib.suppress(Exception):
                await self.local.stop()

    # -- the local Sampler's surface -------------------------------------------------------------

    @property
    def latest(self) -> Snapshot | None:
        return self.local.latest if self.local is not None else None

    @property
    def history(self) -> tuple[Snapshot, ...]:
        return self.local.history if self.local is not None else ()

    def peaks(self, since: float, until: float | None = None) -> Peaks:
        if self.local is None:
            return Peaks(None, None, None, None)
        return self.local.peaks(since, until)

    def set_backend(self, pid: int | None, port: int | None = None) -> None:
        if self.local is not None:
            self.local.set_backend(pid, port)

    def sample_now(self) -> Snapshot:
        return self.local.sample_now() if self.local is not None else Snapshot(t=0.0)


def sampler_for(sampler: HardwareSampler | None, host: str | None) -> HardwareSampler | None:
    """The sampler a run of a pattern on `host` records peaks from (a plain Sampler: itself)."""
    return sampler.for_host(host) if isinstance(sampler, HostSamplers) else sampler


def telemetry_source(sampler: HardwareSampler | None, host: str | None) -> str | None:
    """What the run record's `telemetry_source` says: the host's source text, "local", or None when
    no hardware was sampled at all."""
    if sampler is None:
        return None
    return sampler.source_of(host) if isinstance(sampler, HostSamplers) else LOCAL


def missing_telemetry(host_sampler: HardwareSampler | None, since: float, until: float | None) -> str | None:
    """A warning for the run record when a remote host's figures did not arrive during the run."""
    return host_sampler.missing(since, until) if isinstance(host_sampler, RemoteSampler) else None


def with_hosts(local: HardwareSampler | None, hosts: Mapping[str, str], interval_s: float) -> HardwareSampler | None:
    """The sampler to hand a sweep: the local one alone, or every host's when the file names any."""
    return HostSamplers(local, hosts, interval_s) if hosts else local


def host_title(sampler: HardwareSampler | None, host: str | None) -> str | None:
    """The host name for the hardware panel's titles: None unless the pattern file has hosts."""
    if not isinstance(sampler, HostSamplers):
        return None
    if host is not None and not parse_source(sampler.source_of(host)).is_local:
        return host
    return sampler.local_name()


def remote_command(telemetry: str | None) -> tuple[str, ...]:
    """`ssh [options] -- [user@]host` for an ssh:// host (a server's CLI runs there); () otherwise."""
    if not telemetry:
        return ()
    try:
        src = parse_source(telemetry)
    except SourceError:
        return ()
    if src.kind != "ssh":
        return ()
    from backends.probes.remote.ssh import ssh_argv

    return tuple(ssh_argv(src))
