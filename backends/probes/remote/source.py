"""Telemetry source strings, as written in `[hosts.NAME] telemetry = "..."` and `probe --host`.

    local                              this machine's own probes
    agent+http://HOST:9464             another gptoss-top's `agent` (also agent+https://)
    node-exporter+http://HOST:9100     Prometheus node_exporter (memory, swap, PSI, drm GPUs)
    macmon+http://HOST:9090            `macmon serve` on a Mac (GPU, power, RAM, swap)
    exo+http://HOST:52415              an exo cluster's /state (every node's memory and GPU)
    ssh://[USER@]HOST[:PORT]           `gptoss-top probe --json` over the system ssh, else the
                                       macOS one-shots (sysctl, vm_stat, ioreg)

Parsing never touches the network; a bad string raises SourceError with what to write instead.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Literal

SourceKind = Literal["local", "agent", "node-exporter", "macmon", "exo", "ssh"]
HTTP_KINDS: tuple[SourceKind, ...] = ("agent", "node-exporter", "macmon", "exo")
DEFAULT_PORTS: dict[str, int] = {"agent": 9464, "node-exporter": 9100, "macmon": 9090, "exo": 52415, "ssh": 22}
# The agent's token is read from this variable unless the source names another (?token_env=VAR).
DEFAULT_TOKEN_ENV = "GPTOSS_TOP_AGENT_TOKEN"
EXAMPLES = ('"local", "agent+http://HOST:9464", "node-exporter+http://HOST:9100", "macmon+http://HOST:9090", '
            '"exo+http://HOST:52415" or "ssh://USER@HOST"')  # fmt: skip


class SourceError(ValueError):
    """A telemetry string that cannot be read; the message says what a good one looks like."""


@dataclass(frozen=True)
class TelemetrySource:
    kind: SourceKind
    text: str  # as the user wrote it (never holds a secret: tokens come from the environment)
    url: str | None = None  # http(s)://host:port for the HTTP kinds
    host: str | None = None
    port: int | None = None
    user: str | None = None  # ssh
    token_env: str = DEFAULT_TOKEN_ENV  # agent
    command: str | None = None  # ssh: the remote gptoss-top to run (?command=/path/to/gptoss-top)

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    @property
    def destination(self) -> str:
        """ssh's `[user@]host`."""
        return f"{self.user}@{self.host}" if self.user else str(self.host)


def parse_source(text: str) -> TelemetrySource:
    """`agent+http://mini:9464` → TelemetrySource; SourceError for anything else."""
    raw = text.strip()
    if raw in ("local", ""):
        return TelemetrySource("local", "local")
    scheme, sep, _ = raw.partition("://")
    if not sep:
        raise SourceError(f"telemetry {raw!r} is not a source: write {EXAMPLES}")
    if scheme == "ssh":
        return _ssh(raw)
    kind, plus, proto = scheme.partition("+")
    if kind not in HTTP_KINDS:
        known = ", ".join(f"{k}+http://" for k in HTTP_KINDS)
        raise SourceError(f"telemetry {raw!r}: unknown source kind {kind!r}; use local, ssh:// or {known}")
    if not plus or proto not in ("http", "https"):
        raise SourceError(f"telemetry {raw!r}: write {kind}+http://HOST:PORT (or {kind}+https://)")
    parts = _split(raw[len(kind) + 1 :], raw)
    if parts.path not in ("", "/"):
        raise SourceError(f"telemetry {raw!r}: give only HOST:PORT, no path ({parts.path!r})")
    port = _port(parts, raw) or DEFAULT_PORTS[kind]
    query = urllib.parse.parse_qs(parts.query)
    unknown = set(query) - ({"token_env"} if kind == "agent" else set())
    if unknown:
        raise SourceError(f"telemetry {raw!r}: unknown option {sorted(unknown)[0]!r}"
                          + ("; an agent source takes ?token_env=VAR" if kind == "agent" else ""))  # fmt: skip
    token_env = query.get("token_env", [DEFAULT_TOKEN_ENV])[0]
    if not token_env.replace("_", "").isalnum():
        raise SourceError(f"telemetry {raw!r}: token_env must name an environment variable, not {token_env!r}")
    host = str(parts.hostname)
    netloc = f"[{host}]" if ":" in host else host
    return TelemetrySource(kind, raw, url=f"{proto}://{netloc}:{port}", host=host, port=port, token_env=token_env)


def _ssh(raw: str) -> TelemetrySource:
    parts = _split(raw, raw)
    if parts.password is not None:
        raise SourceError(f"telemetry {raw.split('@')[-1]!r}: no password in an ssh source; use a key (ssh-agent)")
    if parts.path not in ("", "/"):
        raise SourceError(f"telemetry {raw!r}: write ssh://USER@HOST[:PORT], no path")
    query = urllib.parse.parse_qs(parts.query)
    unknown = set(query) - {"command"}
    if unknown:
        raise SourceError(f"telemetry {raw!r}: unknown option {sorted(unknown)[0]!r}; ssh takes ?command=PATH")
    command = query.get("command", [None])[0]
    return TelemetrySource("ssh", raw, host=parts.hostname, port=_port(parts, raw), user=parts.username,
                           command=command)  # fmt: skip


def _split(raw: str, shown: str) -> urllib.parse.SplitResult:
    try:
        parts = urllib.parse.urlsplit(raw)
    except ValueError as e:
        raise SourceError(f"telemetry {shown!r}: {e}") from None
    if not parts.hostname:
        raise SourceError(f"telemetry {shown!r} has no host name")
    return parts


def _port(parts: urllib.parse.SplitResult, raw: str) -> int | None:
    try:
        return parts.port
    except ValueError:
        raise SourceError(f"telemetry {raw!r}: the port must be a number from 1 to 65535") from None
