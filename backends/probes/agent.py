"""`gptoss-top agent`: this machine's probes, read-only, over HTTP, for another gptoss-top (or a
Prometheus server) to read.

    GET /metrics   Prometheus text exposition, written by prometheus_client
    GET /json      the report `gptoss-top probe --json` prints (the snapshot at most one interval old)
    GET /healthz   "ok"

Binds 127.0.0.1 unless told otherwise; any other address needs a bearer token (read from an
environment variable, never from the command line, never printed or logged) or a flag that says
plainly the agent is open. One thread samples once per interval; requests only read its result.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from backends.probes.model import PRESSURE_LEVELS, Probe, Snapshot
from backends.probes.sampler import Sampler, to_dict

DEFAULT_PORT = 9464  # beside the OpenTelemetry Prometheus exporter's usual port; free on a Mac mini
# The classic text format every Prometheus 2.x and 3.x scraper reads (prometheus.io/docs/instrumenting/
# exposition_formats); newer prometheus_client versions default to announcing 1.0.0.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BACKENDS_EVERY_S = 10.0  # the backend port checks cost up to a second; not on every sample


class AgentError(Exception):
    """A setting the agent refuses to start with; the message says what to do."""


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def check_bind(bind: str, token: str | None, token_env: str, open_to_network: bool) -> None:
    if token is not None and not token.strip():
        raise AgentError(f"{token_env} is set but empty: put a long random token in it")
    if is_loopback(bind) or token or open_to_network:
        return
    raise AgentError(
        f"refusing to serve on {bind} without a token: anyone who can reach it could read this machine. "
        f"Set {token_env} to a long random token (clients set the same variable), or pass "
        "--open-without-token to serve it open on purpose"
    )


class SnapshotCollector(Collector):
    """Gauges from the latest snapshot; a figure the machine did not report is left out, not 0."""

    def __init__(self, latest: Callable[[], tuple[Snapshot | None, float | None]]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap, taken = self._latest()
        if snap is None:
            return
        yield from self._memory(snap)
        yield from self._gpus(snap)
        if taken is not None:
            age = GaugeMetricFamily("gptoss_top_sample_age_seconds", "Seconds since the probes last ran")
            age.add_metric([], max(0.0, time.time() - taken))
            yield age

    @staticmethod
    def _memory(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
        host = snap.host
        total = host.mem_total_bytes if host else None
        if total is None and snap.apple is not None:
            total = snap.apple.memsize_bytes
        swap_total = host.swap_total_bytes if host else None
        level = None if snap.pressure is None else PRESSURE_LEVELS.index(snap.pressure)
        for name, doc, value in (
            ("gptoss_top_memory_total_bytes", "Physical memory", total),
            ("gptoss_top_memory_used_bytes", "Memory the OS could not hand out now (total - available)",
             snap.ram_used_bytes),
            ("gptoss_top_memory_available_bytes", "Memory available without swapping",
             host.mem_available_bytes if host else None),
            ("gptoss_top_swap_used_bytes", "Swap in use", snap.swap_used_bytes),
            ("gptoss_top_swap_total_bytes", "Swap size", swap_total),
            ("gptoss_top_memory_pressure_level", "Memory pressure: 0 normal, 1 warning, 2 critical", level),
            ("gptoss_top_memory_psi_some_ratio", "Linux PSI memory some avg10, as a ratio",
             None if host is None or host.psi_some_avg10 is None else host.psi_some_avg10 / 100),
        ):  # fmt: skip
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=value)

    @staticmethod
    def _gpus(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
        labels = ["gpu", "vendor", "name"]
        fams = {
            "used": GaugeMetricFamily("gptoss_top_gpu_memory_used_bytes", "GPU memory in use", labels=labels),
            "total": GaugeMetricFamily("gptoss_top_gpu_memory_total_bytes", "GPU memory size", labels=labels),
            "util": GaugeMetricFamily("gptoss_top_gpu_utilization_ratio", "GPU busy, 0 to 1", labels=labels),
            "power": GaugeMetricFamily("gptoss_top_gpu_power_watts", "GPU power draw", labels=labels),
            "temp": GaugeMetricFamily("gptoss_top_gpu_temperature_celsius", "GPU temperature", labels=labels),
        }
        seen: set[str] = set()
        for g in snap.gpus:
            lv = [str(g.index), g.vendor, g.name or g.vendor]
            for key, value in (
                ("used", g.mem_used_bytes),
                ("total", g.mem_total_bytes),
                ("util", None if g.util_percent is None else g.util_percent / 100),
                ("power", g.power_w),
                ("temp", g.temperature_c),
            ):
                if value is not None:
                    fams[key].add_metric(lv, value)
                    seen.add(key)
        yield from (f for k, f in fams.items() if k in seen)


class Agent:
    def __init__(self, probes: list[Probe] | None = None, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.sampler = Sampler(probes=probes, interval_s=interval_s)
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._taken: float | None = None  # wall time of the snapshot, for its age
        self._report: dict[str, Any] = {}
        self._stop = threading.Event()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(self.latest))

    def latest(self) -> tuple[Snapshot | None, float | None]:
        with self._lock:
            return self._snap, self._taken

    def tick(self) -> None:
        """One sample; the first also gathers the rest of the probe report (platform, absent vendors)."""
        snap = self.sampler.sample_now()
        report: dict[str, Any] | None = None
        if not self._report:
            from backends.probes.report import collect

            report = collect(timeout_s=0.5, probes=list(self.sampler.probes))
        with self._lock:
            self._snap, self._taken = snap, time.time()
            if report is not None:
                self._report = report

    def check_backends(self) -> None:
        """Which local servers answer, for /json (as `probe --json` says it); each check is bounded."""
        from backends.probes.report import DEFAULT_BACKENDS, check_backend

        found = [check_backend(name, port, path, 0.5) for name, port, path in DEFAULT_BACKENDS]
        with self._lock:
            self._report = {**self._report, "backends": found}

    def report(self) -> dict[str, Any]:
        with self._lock:
            d = dict(self._report)
            snap, taken = self._snap, self._taken
        if snap is not None:
            d["snapshot"] = to_dict(snap)
        d["agent"] = {"hostname": socket.gethostname(), "sampled_at": taken, "interval_s": self.interval_s,
                      "platform": platform.system()}  # fmt: skip
        return d

    def metrics(self) -> bytes:
        return generate_latest(self.registry)

    def run_sampling(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.tick()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def run_backend_checks(self) -> None:
        # Their own thread: a port that hangs for its time-out must not delay a sample.
        while not self._stop.wait(BACKENDS_EVERY_S):
            self.check_backends()

    def stop(self) -> None:
        self._stop.set()


def make_handler(agent: Agent, token: str | None) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode() if token else None

    class Handler(BaseHTTPRequestHandler):
        server_version = "gptoss-top-agent"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines are not worth a log here, and headers may carry the token

        def do_GET(self) -> None:
            if expected is not None:
                given = self.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    self._send(401, b"missing or wrong bearer token\n", "text/plain; charset=utf-8",
                               {"WWW-Authenticate": 'Bearer realm="gptoss-top"'})  # fmt: skip
                    return
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, agent.metrics(), CONTENT_TYPE)
            elif path == "/json":
                body = json.dumps(agent.report(), default=str).encode()
                self._send(200, body, "application/json")
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics, /json or /healthz\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve(agent: Agent, bind: str, port: int, token: str | None) -> ThreadingHTTPServer:
    """Bind now (an address in use fails here, with OSError); the caller runs serve_forever."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    return Server((bind, port), make_handler(agent, token))
