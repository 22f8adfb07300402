"""The run record: one JSON object per run (contract: README "Run record")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The contract's fields, in the contract's order; the extras follow.
CONTRACT_FIELDS = (
    "pattern",
    "backend",
    "url",
    "model",
    "context_length",
    "gpu_layers",
    "repeat",
    "started_at",
    "ok",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "ttft_s",
    "prompt_tps",
    "decode_tps",
    "decode_tps_client",
    "total_s",
    "stats_source",
    "reasoning",
    "answer",
    "peak_vram_bytes",
    "peak_ram_used_bytes",
    "memory_pressure_peak",
    "swap_delta_bytes",
)


@dataclass
class RunRecord:
    pattern: str
    backend: str
    url: str
    model: str
    context_length: int | None
    gpu_layers: int | str | None
    repeat: int
    started_at: str  # ISO 8601, UTC
    ok: bool = False
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    ttft_s: float | None = None
    prompt_tps: float | None = None
    decode_tps: float | None = None
    decode_tps_client: float | None = None
    total_s: float | None = None
    stats_source: str | None = None
    reasoning: str = ""
    answer: str = ""
    peak_vram_bytes: int | None = None
    peak_ram_used_bytes: int | None = None
    memory_pressure_peak: str | None = None
    swap_delta_bytes: int | None = None
    # Beyond the contract: documented in the README.
    error_kind: str | None = None  # BackendError.code of a failed run
    finish_reason: str | None = None
    ttft_client_s: float | None = None
    ttft_answer_s: float | None = None
    load_s: float | None = None  # time the server spent loading the model for this run
    loaded_context_length: int | None = None  # what the server says it actually loaded
    loaded_size_bytes: int | None = None
    loaded_vram_bytes: int | None = None
    loaded_detail: str | None = None  # e.g. "48%/52% CPU/GPU"
    warnings: list[str] = field(default_factory=list)
    error_hint: str | None = None  # what to do about `error`, kept apart so nothing parses it back out
    n_cpu_moe: int | str | None = None  # blocks whose expert weights stay in host memory ("all" = every block)
    # The fit prediction made before loading, beside what the server says it loaded.
    predicted_gpu_bytes: int | None = None
    predicted_host_bytes: int | None = None
    fit_verdict: str | None = None  # fits | spills | swap | unknown
    fit_source: str | None = None  # gguf | card | server | llama-fit-params | lms | ollama-show
    loaded_gpu_bytes: int | None = None
    loaded_host_bytes: int | None = None
    # Where the run's hardware figures come from: the pattern's host and its telemetry source.
    host: str | None = None
    telemetry_source: str | None = None
    # What produced the run, so runs from different days compare like with like.
    server_version: str | None = None
    model_digest: str | None = None
    model_quant: str | None = None
    model_size_bytes: int | None = None
    tune_id: str | None = None  # set on the runs of one `gptoss-top tune`

    @property
    def warmup(self) -> bool:
        """A tune's warm-up run (stored with repeat 0): kept in the store, never in a mean or a chart."""
        return self.repeat == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})
