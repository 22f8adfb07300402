"""What every backend offers the rest of gptoss-top, and the errors it may raise.

A backend turns a pattern into a running model (`prepare`) and a `ChatRequest` into an async stream
of events (`stream`). Events are small frozen dataclasses; the meter in `backends.runs.stats` turns a timed
sequence of them into figures. Nothing here imports textual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeGuard, runtime_checkable

if TYPE_CHECKING:
    import httpx

BackendKind = Literal["lmstudio", "ollama", "llamacpp", "openai"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("lmstudio", "ollama", "llamacpp", "openai")
ReasoningEffort = Literal["low", "medium", "high"]
REASONING_EFFORTS: tuple[ReasoningEffort, ...] = ("low", "medium", "high")
# Offload as the user writes it: LM Studio slider layers (24 = all of gpt-oss-20b), or "max" / "off".
GpuLayers = int | Literal["max", "off"]


def is_backend_kind(value: object) -> TypeGuard[BackendKind]:
    return value in BACKEND_KINDS


def is_reasoning_effort(value: object) -> TypeGuard[ReasoningEffort]:
    return value in REASONING_EFFORTS


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
class Health:
    ok: bool
    detail: str = ""  # "ok", "loading model", "connection refused" ... shown in the header
    version: str | None = None


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


@dataclass(frozen=True)
class ServerOptions:
    """Settings for building a backend beyond its endpoint; each kind takes those that apply to it."""

    # llama.cpp: launch and own a llama-server per pattern (the pattern names a GGUF file).
    managed: bool = False
    server_bin: str | None = None  # llama.cpp: the llama-server binary; None looks for one
    # The one seam for tests: every adapter builds its HTTP clients on this transport
    # (httpx.MockTransport, or one that forwards to a loopback fake). None: the network.
    transport: httpx.AsyncBaseTransport | None = None
    # A command prefix that runs a program on the server's machine (`ssh [options] -- host`, from an
    # ssh:// host of the pattern file); empty: this machine. LM Studio runs `lms` through it.
    remote_command: tuple[str, ...] = ()
    # openai (exo): ask POST /bench/chat/completions, whose answer carries exo's own prefill and
    # generation rates, instead of streaming (pattern key server_stats = "exo-bench").
    exo_bench: bool = False


# --------------------------------------------------------------------------------------------------
# The protocol


@runtime_checkable
class Backend(Protocol):
    """An inference server gptoss-top can stream completions from."""

    kind: ClassVar[BackendKind]
    url: str

    @property
    def capabilities(self) -> Capabilities:
        """What this backend does, as the rest of gptoss-top may rely on."""
        ...

    @property
    def pid(self) -> int | None:
        """The server process this backend started and owns; None when it owns none (yet)."""
        ...

    async def health(self) -> Health:
        """Is the server there, and what is it? Never raises."""
        ...

    async def list_models(self) -> list[ModelInfo]:
        """Models the server knows. Raises BackendError."""
        ...

    async def prepare(self, spec: LoadSpec) -> Prepared:
        """Apply the pattern's model, context length and offload. Raises BackendError."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield deltas as they arrive, ServerStats when the server reports figures, then Finished.

        Raises BackendError (before or during the stream). Closing the iterator cancels the request.
        """
        ...

    async def loaded(self) -> list[LoadedModel]:
        """What is loaded now. Never raises; [] when unknown."""
        ...

    async def aclose(self) -> None:
        """Release connections and anything the backend started (a managed server)."""
        ...


# --------------------------------------------------------------------------------------------------
# Errors: each says what happened and what the user can do about it.


class BackendError(Exception):
    """Base of every error a backend raises. `str()` is a message a user can act on."""

    code: ClassVar[str] = "backend_error"

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ServerUnreachable(BackendError):
    code = "server_unreachable"


class AuthError(BackendError):
    code = "auth"


class ModelNotFound(BackendError):
    code = "model_not_found"


class LoadRefused(BackendError):
    """The server would not load the model with these settings (guardrails, out of memory)."""

    code = "load_refused"


class ContextOverflow(BackendError):
    code = "context_overflow"


class StreamBroken(BackendError):
    """The stream ended early: connection reset, an error event after the first chunk, bad data."""

    code = "stream_broken"


class BackendTimeout(BackendError):
    code = "timeout"


class ServerStartFailed(BackendError):
    """A managed server did not come up. The message carries the tail of its stderr."""

    code = "server_start_failed"


class BadResponse(BackendError):
    """The server answered with something this backend cannot read."""

    code = "bad_response"


def redact(text: str, secrets: Mapping[str, str | None] | tuple[str | None, ...]) -> str:
    """Replace every secret in text by a fixed marker; used before anything is shown or stored."""
    values = secrets.values() if isinstance(secrets, Mapping) else secrets
    for s in values:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def redact_any(value: Any, secrets: tuple[str | None, ...]) -> Any:
    """`redact` through a decoded JSON body: some servers echo the Authorization header back."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_any(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_any(v, secrets) for v in value]
    return value


@dataclass(frozen=True)
class Endpoint:
    """Where a backend lives and how to authenticate. The key never appears in repr()."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 600.0  # the longest wait for data: a model load, a long prefill, a pause
    connect_timeout_s: float = 5.0
