"""What a backend exchanges with the rest of gptoss-top: requests, stream events, what it says of its
models and of itself. Small frozen dataclasses; `backends.base` names them all.

They live apart from `backends.base` so that the TUI's first frame, which needs the backend kinds and
a server's health but no run yet, does not pay for building them (~7 ms of dataclass code generation);
`backends.base` loads this module the first time one of them is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from backends.base import GpuLayers, ReasoningEffort


# --------------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class LoadSpec:
    """How the model should be loaded: fixed at load time on every backend."""

    model: str
    context_length: int | None = None
    gpu_layers: GpuLayers | None = None
    # llama.cpp managed mode: the GGUF file to launch llama-server with.
    model_path: str | None = None
    # First N blocks keep their expert weights in host memory ("all": every block): llama.cpp --n-cpu-moe.
    n_cpu_moe: int | str | None = None


@dataclass(frozen=True)
class Message:
    role: Literal["system", "developer", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    reasoning_effort: ReasoningEffort | None = None
    temperature: float | None = None
    seed: int | None = None
    # Per-request load settings, for backends that apply them per request (Ollama options).
    load: LoadSpec | None = None

    @classmethod
    def simple(cls, model: str, prompt: str, *, system: str | None = None, **kwargs: object) -> ChatRequest:
        msgs = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
        return cls(model=model, messages=msgs, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Stream events


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (gpt-oss analysis channel)."""

    text: str


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """A piece of the answer (gpt-oss final channel)."""

    text: str


@dataclass(frozen=True, slots=True)
class ServerStats:
    """Figures the server measured itself. Each is None when this server did not report it.

    A backend may yield several (e.g. timings per token); later values replace earlier non-None ones.
    """

    prompt_tokens: int | None = None  # size of the prompt, cached tokens included
    prompt_tokens_processed: int | None = None  # tokens actually evaluated (llama.cpp prompt_n)
    completion_tokens: int | None = None  # reasoning included
    reasoning_tokens: int | None = None
    prompt_tps: float | None = None
    decode_tps: float | None = None
    ttft_s: float | None = None
    load_s: float | None = None
    decode_s: float | None = None
    total_s: float | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """The stream ended normally. `reason` as the server said it: stop, length, ..."""

    reason: str | None = None


StreamEvent = ReasoningDelta | ContentDelta | ServerStats | Finished


# --------------------------------------------------------------------------------------------------
# What a backend tells about itself


@dataclass(frozen=True)
class ModelInfo:
    name: str
    size_bytes: int | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    context_length: int | None = None  # maximum the model supports
    block_count: int | None = None  # repeating layers (24 for gpt-oss-20b)
    loaded: bool | None = None


@dataclass(frozen=True)
class LoadedModel:
    """What the server says is loaded right now, as precisely as it tells."""

    name: str
    context_length: int | None = None
    size_bytes: int | None = None  # memory footprint of the loaded model
    vram_bytes: int | None = None  # the part of it in VRAM
    gpu_layers: int | None = None
    expires_at: str | None = None
    detail: str = ""  # e.g. "48%/52% CPU/GPU"
    # Everything the server holds for it (weights, KV cache, compute buffers), where it says it holds
    # it: on the GPU, and in host memory. None where the server does not tell.
    gpu_bytes: int | None = None
    host_bytes: int | None = None


@dataclass(frozen=True)
class Prepared:
    """The outcome of applying a pattern's load settings."""

    load_s: float | None = None
    warnings: tuple[str, ...] = ()
    loaded: LoadedModel | None = None


# --------------------------------------------------------------------------------------------------
# What a backend can do, declared rather than guessed from its kind

# How a pattern's context length and GPU offload reach the server:
#   per_request   sent with every chat request (Ollama `options`); a change reloads the model
#   server_start  fixed when the server starts (llama.cpp `-c`, `-ngl`): a managed server is relaunched
#   load_call     a separate load step before the chat (LM Studio `lms load`, `/api/v1/models/load`)
#   none          the API cannot take them (a plain OpenAI-compatible server); prepare() warns
LoadApplies = Literal["per_request", "server_start", "load_call", "none"]


@dataclass(frozen=True)
class Capabilities:
    load_applies: LoadApplies
    # It launches the server itself and owns the process (`pid`), so the probes can watch that
    # process, and health checks know that "not started yet" is not "down".
    owns_process: bool = False
    # The server measures its own figures (decode rate, prompt rate) and reports them in the stream.
    server_timings: bool = False
    # Why a pattern's GPU-offload setting (gpu_layers) cannot reach this server, and what to do about
    # it; None when it can. The adapter knows (LM Studio needs `lms` on its own machine, an attached
    # llama-server fixed its offload at start), so nobody else guesses from the kind.
    offload_blocked: str | None = None
    # The expert-offload setting (n_cpu_moe: llama.cpp `--n-cpu-moe`) reaches this server.
    expert_offload: bool = False
