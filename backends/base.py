"""What every backend offers the rest of gptoss-top, and the errors it may raise.

A backend turns a pattern into a running model (`prepare`) and a `ChatRequest` into an async stream
of events (`stream`). Events are small frozen dataclasses; the meter in `backends.runs.stats` turns a timed
sequence of them into figures. Nothing here imports textual.

The requests, events and model descriptions are defined in `backends.messages` and named here as
well; that module is loaded the first time one of them is asked for (PEP 562), not before the TUI's
first frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeGuard, runtime_checkable

from backends.lazy import lazy_names

if TYPE_CHECKING:
    import httpx

    from backends.messages import Capabilities as Capabilities
    from backends.messages import ChatRequest as ChatRequest
    from backends.messages import ContentDelta as ContentDelta
    from backends.messages import Finished as Finished
    from backends.messages import LoadApplies as LoadApplies
    from backends.messages import LoadedModel as LoadedModel
    from backends.messages import LoadSpec as LoadSpec
    from backends.messages import Message as Message
    from backends.messages import ModelInfo as ModelInfo
    from backends.messages import Prepared as Prepared
    from backends.messages import ReasoningDelta as ReasoningDelta
    from backends.messages import ServerStats as ServerStats
    from backends.messages import StreamEvent as StreamEvent

# Named here, defined in backends.messages (see the module's docstring).
__getattr__ = lazy_names(__name__, dict.fromkeys((
    "Capabilities", "ChatRequest", "ContentDelta", "Finished", "LoadApplies", "LoadedModel", "LoadSpec",
    "Message", "ModelInfo", "Prepared", "ReasoningDelta", "ServerStats", "StreamEvent",
), "backends.messages"))  # fmt: skip


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
# What a backend tells about itself, and how it is built


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""  # "ok", "loading model", "connection refused" ... shown in the header
    version: str | None = None


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
