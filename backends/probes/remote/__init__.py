"""Remote telemetry: one reader per source (agent, node_exporter, macmon, exo, ssh), each host's
sampler, and the registry of a pattern file's hosts. Never imports textual or the runs layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backends.lazy import lazy_names
from backends.probes.remote.source import DEFAULT_TOKEN_ENV, SourceError, TelemetrySource, parse_source

if TYPE_CHECKING:
    from backends.probes.remote.convert import TelemetryError, reading_from_dict
    from backends.probes.remote.registry import (
        HostSamplers,
        HostView,
        missing_telemetry,
        sampler_for,
        telemetry_source,
    )
    from backends.probes.remote.sampler import Freshness, RemoteSampler

# The readers (httpx) load on first use: checking a pattern file's `[hosts]` needs only `source`,
# and the TUI's first frame should not wait for an HTTP client (PEP 562 module __getattr__).
_LAZY = {
    "TelemetryError": "backends.probes.remote.convert",
    "reading_from_dict": "backends.probes.remote.convert",
    "HostSamplers": "backends.probes.remote.registry",
    "HostView": "backends.probes.remote.registry",
    "missing_telemetry": "backends.probes.remote.registry",
    "sampler_for": "backends.probes.remote.registry",
    "telemetry_source": "backends.probes.remote.registry",
    "Freshness": "backends.probes.remote.sampler",
    "RemoteSampler": "backends.probes.remote.sampler",
}

__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "DEFAULT_TOKEN_ENV",
    "Freshness",
    "HostSamplers",
    "HostView",
    "RemoteSampler",
    "SourceError",
    "TelemetryError",
    "TelemetrySource",
    "missing_telemetry",
    "parse_source",
    "reading_from_dict",
    "sampler_for",
    "telemetry_source",
]
