"""What llama-server says it allocated: its buffer lines, read from its log.

`load_tensors: CUDA0 model buffer size = 10949.38 MiB`, `llama_kv_cache: CPU KV buffer size = …`,
`sched_reserve: CPU compute buffer size = …` (the bundled build prints them at `-lv 4` only), the
`offloaded k/n layers to GPU` line and the `common_memory_breakdown_print` rows. The line patterns
follow Ollama's parser of the same log (ollama/ollama llm/llama_server.go, bufferSizeRegex and
offloadedLayersRegex). Device names: CUDA0, ROCm0, Vulkan0, MTL0, MTL0_Mapped count as GPU; CPU,
CPU_Mapped, CPU_REPACK, BLAS and *_Host as host (Ollama's classification).

A `CPU_Mapped` model buffer is the file-offset span of the host-resident tensors, which can include
tensors a GPU buffer also holds, so the host's model bytes are capped at file size − GPU model bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIB = 1 << 20
_BUFFER = re.compile(
    r"(?P<fn>[A-Za-z_][A-Za-z0-9_]*):\s+(?P<dev>\S+)\s+(?P<kind>model|KV|compute|output|RS)\s+buffer size\s*=\s*"
    r"(?P<mib>[\d.]+)\s*MiB"
)
_OFFLOADED = re.compile(r"offloaded\s+(\d+)/(\d+)\s+layers to GPU")
_LOAD_START = re.compile(r"llama_model_loader: loaded meta data|load_tensors: loading model tensors")
_BREAKDOWN = re.compile(
    r"memory_breakdown_print:\s*\|\s*-\s*(?P<dev>.+?)\s*\|\s*(?:(?P<total>\d+)\s*=\s*(?P<free>\d+)\s*\+\s*\()?"
    r"\s*(?P<self>\d+)\s*=\s*(?P<model>\d+)\s*\+\s*(?P<ctx>\d+)\s*\+\s*(?P<compute>\d+)"
)


def is_host_device(name: str) -> bool:
    return name in ("CPU", "BLAS") or name.startswith("CPU_") or name.endswith("_Host")


@dataclass(frozen=True)
class Buffer:
    device: str
    kind: str  # model | KV | compute | output | RS
    bytes: int

    @property
    def on_host(self) -> bool:
        return is_host_device(self.device)


@dataclass(frozen=True)
class ServerMemory:
    """The buffers of the last model load in a log; bytes per side and kind."""

    buffers: tuple[Buffer, ...]
    offloaded: tuple[int, int] | None = None
    breakdown: tuple[tuple[str, int, int, int, int], ...] = ()  # (device, self, model, context, compute) MiB

    def total(self, kind: str, host: bool) -> int:
        return sum(b.bytes for b in self.buffers if b.kind == kind and b.on_host == host)

    def model_host(self, file_bytes: int | None = None) -> int:
        host = self.total("model", True)
        if file_bytes:
            host = min(host, max(file_bytes - self.total("model", False), 0))
        return host

    @property
    def gpu_bytes(self) -> int:
        return sum(self.total(k, False) for k in ("model", "KV", "compute", "output", "RS"))

    def host_bytes(self, file_bytes: int | None = None) -> int:
        rest = sum(self.total(k, True) for k in ("KV", "compute", "output", "RS"))
        return self.model_host(file_bytes) + rest


def parse_log(text: str) -> ServerMemory | None:
    """The buffers of the last load in a llama-server log; None when it printed none (level below 4)."""
    start = 0
    for m in _LOAD_START.finditer(text):
        start = m.start()
    seg = text[start:]
    sums: dict[tuple[str, str], int] = {}
    for m in _BUFFER.finditer(seg):
        key = (m.group("dev"), m.group("kind"))
        b = round(float(m.group("mib")) * MIB)
        # KV and model buffers add up (an iSWA model has two KV caches); a compute reserve is redone.
        sums[key] = b if key[1] == "compute" else sums.get(key, 0) + b
    offloaded = None
    for om in _OFFLOADED.finditer(seg):
        offloaded = (int(om.group(1)), int(om.group(2)))
    rows = {}
    for bm in _BREAKDOWN.finditer(text):
        dev = bm.group("dev").strip()
        rows[dev] = (dev, int(bm.group("self")), int(bm.group("model")), int(bm.group("ctx")), int(bm.group("compute")))
    if not sums and not rows:
        return None
    buffers = tuple(Buffer(dev, kind, n) for (dev, kind), n in sums.items())
    return ServerMemory(buffers, offloaded, tuple(rows.values()))


def read_log(path: str) -> ServerMemory | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_log(f.read())
    except OSError:
        return None
