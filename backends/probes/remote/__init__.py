"""Remote telemetry: one reader per source (agent, node_exporter, macmon, exo, ssh), each host's
sampler, and the registry of a pattern file's hosts. Never imports textual or the runs layer.
"""

from __future__ import annotations

from backends.probes.remote.convert import TelemetryError, reading_from_dict
from backends.probes.remote.registry import (
    HostSamplers,
    HostView,
    missing_telemetry,
    sampler_for,
    telemetry_source,
)
from backends.probes.remote.sampler import Freshness, RemoteSampler
from backends.probes.remote.source import DEFAULT_TOKEN_ENV, SourceError, TelemetrySource, parse_source

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
