"""`gptoss-top probe`: one sample of everything detected, and which local servers answer.

`collect()` gathers a JSON-ready dict (what `--json` prints); `render_text()` turns it into the
human report. Backends are tried on 127.0.0.1 only, with short time-outs, all at once.
"""

from __future__ import annotations

import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from backends.probes.model import Probe
from backends.probes.sampler import Sampler, detect_probes, to_dict
from backends.units import size

# (name, default port, path that answers without a model loaded)
DEFAULT_BACKENDS: tuple[tuple[str, int, str], ...] = (
    ("lmstudio", 1234, "/lmstudio-greeting"),
    ("ollama", 11434, "/"),
    ("llamacpp", 8080, "/health"),
    ("llamacpp", 9931, "/health"),
    ("exo", 52415, "/v1/models"),
)


def check_backend(name: str, port: int, path: str, timeout_s: float) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}{path}"
    out: dict[str, Any] = {"name": name, "port": port, "url": url, "answered": False, "status": None}
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout_s), trust_env=False) as client:
            r = client.get(url)
    except httpx.HTTPError as e:
        out["detail"] = _why(e)
        return out
    out["answered"] = True
    out["status"] = r.status_code
    # llama-server answers 503 {"error": "Loading model"} while loading: it is there, not ready.
    out["detail"] = " ".join(r.text.split())[:80]
    return out


def _why(e: httpx.HTTPError) -> str:
    if isinstance(e, httpx.ConnectError):
        return "connection refused"
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    return type(e).__name__


def collect(timeout_s: float = 1.0, probes: list[Probe] | None = None) -> dict[str, Any]:
    """One sample of every detected probe (or of `probes`) plus the default backend ports. Never raises."""
    with ThreadPoolExecutor(max_workers=len(DEFAULT_BACKENDS) + 1) as pool:
        futures = [pool.submit(check_backend, n, p, path, timeout_s) for n, p, path in DEFAULT_BACKENDS]
        sampler = Sampler(probes=detect_probes() if probes is None else probes)
        snap = sampler.sample_now()
        backends = []
        for (name, port, path), f in zip(DEFAULT_BACKENDS, futures, strict=True):
            try:
                backends.append(f.result())
            except Exception as e:  # check_backend catches httpx errors; anything else lands here
                backends.append({"name": name, "port": port, "url": f"http://127.0.0.1:{port}{path}",
                                 "answered": False, "status": None, "detail": repr(e)})  # fmt: skip
    return {
        "absent": _absent([p.name for p in sampler.probes]),
        "platform": {"system": platform.system(), "machine": platform.machine(), "python": sys.version.split()[0]},
        "probes": [p.name for p in sampler.probes],
        "snapshot": to_dict(snap),
        "backends": backends,
    }


def _absent(present: list[str]) -> dict[str, str]:
    """Why each GPU vendor's probe is not in use here, for the report to say so."""
    out: dict[str, str] = {}
    if sys.platform == "darwin":
        return out
    if "nvidia" not in present:
        from backends.probes.nvidia import NvidiaProbe

        nv = NvidiaProbe()
        state = nv.state()
        nv.close()
        out["nvidia"] = "no NVIDIA GPU" if state == "ok" else state
    if "amd" not in present:
        out["amd"] = (
            "no AMD GPU (no amdgpu card in /sys/class/drm)"
            if sys.platform.startswith("linux")
            else "AMD probe is Linux only"
        )
    return out


# --------------------------------------------------------------------------------------------------


def _v(v: Any, fmt: str = "{}", unknown: str = "?") -> str:
    return unknown if v is None else fmt.format(v)


def render_text(d: dict[str, Any]) -> str:
    """The human-readable probe report for a dict from `collect()`."""
    lines: list[str] = []
    p = d.get("platform", {})
    lines.append(f"gptoss-top probe — {p.get('system', '?')} {p.get('machine', '')}, "
                 f"probes: {', '.join(d.get('probes', [])) or 'none'}")  # fmt: skip
    snap = d.get("snapshot", {})
    gpus = snap.get("gpus", [])
    lines.append("")
    lines.append("GPUs")
    if not gpus:
        lines.append("  no GPU detected")
    for vendor, why in d.get("absent", {}).items():
        lines.append(f"  {vendor}: {why}")
    for g in gpus:
        lines.append(f"  [{g.get('vendor')} {g.get('index')}] {g.get('name') or 'unknown GPU'} ({g.get('source')})")
        mem = f"{size(g.get('mem_used_bytes'))} / {size(g.get('mem_total_bytes'))}"
        if g.get("unified"):
            mem += " (shared with system memory)"
        lines.append(f"    util {_v(g.get('util_percent'), '{:.0f} %')}   memory {mem}")
        if g.get("gtt_used_bytes") is not None and not g.get("unified"):
            lines.append(f"    GTT (system memory used by the GPU) {size(g.get('gtt_used_bytes'))}")
        lines.append(f"    power {_v(g.get('power_w'), '{:.1f} W')}   temp {_v(g.get('temperature_c'), '{:.0f} °C')}"
                     f"   clock {_v(g.get('clock_graphics_mhz'), '{} MHz')}")  # fmt: skip
        for pr in g.get("processes", []):
            lines.append(f"    pid {pr.get('pid')}: {size(pr.get('used_bytes'))}")
    host = snap.get("host") or {}
    lines.append("")
    lines.append("Host memory")
    lines.append(f"  used {size(host.get('mem_used_bytes'))} of {size(host.get('mem_total_bytes'))}"
                 f" (available {size(host.get('mem_available_bytes'))})")  # fmt: skip
    lines.append(f"  swap {size(host.get('swap_used_bytes'))} of {size(host.get('swap_total_bytes'))}")
    if host.get("psi_some_avg10") is not None:
        lines.append(f"  PSI memory some avg10 {host['psi_some_avg10']:.2f} %, "
                     f"full avg10 {_v(host.get('psi_full_avg10'), '{:.2f}')} %")  # fmt: skip
    elif p.get("system") == "Linux":
        lines.append("  PSI not available")
    apple = snap.get("apple")
    if apple:
        level, free = _v(apple.get("pressure_raw")), _v(apple.get("memory_free_percent"))
        lines.append(f"  macOS pressure level {level}, free {free} %, wired {size(apple.get('wired_bytes'))},"
                     f" compressed {size(apple.get('compressed_bytes'))}")  # fmt: skip
        limit = apple.get("wired_limit_mb")
        lines.append(f"  iogpu.wired_limit_mb {_v(limit)}" + (" (system default)" if limit == 0 else ""))
    lines.append(f"  pressure level: {snap.get('pressure') or 'unknown'}")
    lines.append("")
    lines.append("Backends on 127.0.0.1")
    for b in d.get("backends", []):
        state = f"answers (HTTP {b['status']})" if b.get("answered") else "not reachable"
        detail = f" — {b['detail']}" if b.get("detail") else ""
        lines.append(f"  {b.get('name'):<9} :{b.get('port'):<6} {state}{detail}")
    for line in [*snap.get("notes", []), *snap.get("errors", [])]:
        lines.append(f"note: {line}")
    return "\n".join(lines) + "\n"
