"""LM Studio's `lms` CLI: the one way to load a model with a GPU offload ratio.

Runs on the machine that runs LM Studio, so gptoss-top only uses it for a loopback URL. Recognises
LM Studio's guardrail refusals from its words, since the REST and CLI statuses are undocumented.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shlex
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from backends.base import BackendError, BackendTimeout, GpuLayers, LoadRefused, ModelNotFound, redact

UNREACHABLE_HINT = "is LM Studio's server running? Start it with `lms server start` (or LM Studio → Developer)"
NOT_FOUND_HINT = "`lms ls` lists the downloaded models; `lms get MODEL` downloads one"
GUARDRAIL_HINT = (
    'LM Studio\'s "Model loading guardrails" (Settings) refused it: lower context_length or gpu_layers, '
    "or relax that setting; `lms load --estimate-only MODEL --context-length N --gpu R` shows the estimate"
)
_GUARDRAIL_MARKERS = ("insufficient system resources", "not enough resources", "guardrail", "overload your system")
_OOM_MARKERS = ("model_load_failed", "failed to allocate", "out of memory", "failed to load model")
# Repeating layers (LM Studio's slider maximum) of models whose GGUF metadata REST does not expose.
KNOWN_BLOCK_COUNTS = {"gpt-oss-20b": 24, "gpt-oss-120b": 36}


def load_refused(text: str, model: str) -> LoadRefused | None:
    """A load refused by the guardrails or failed for memory, recognised from LM Studio's words."""
    low, said = text.lower(), text.strip()[:400]
    if any(m in low for m in _GUARDRAIL_MARKERS):
        return LoadRefused(f"LM Studio refused to load {model}: {said}", hint=GUARDRAIL_HINT)
    if any(m in low for m in _OOM_MARKERS):
        what = "out of memory, or stopped by its guardrails"
        return LoadRefused(f"LM Studio could not load {model} ({what}): {said}", hint=GUARDRAIL_HINT)
    return None


def block_count_for(model: str) -> int | None:
    name = model.lower()
    # Longest key first: "gpt-oss-120b" must not be read as a 20b.
    return next((n for k, n in sorted(KNOWN_BLOCK_COUNTS.items(), key=lambda kv: -len(kv[0])) if k in name), None)


def gpu_ratio(layers: GpuLayers, block_count: int | None) -> str:
    """The `lms load --gpu` value for LM Studio slider layers: `max`, `off` or a ratio (23/24 → 0.958333)."""
    if layers == "max" or layers == "off":
        return layers
    if layers <= 0:
        return "off"
    if block_count is None:
        raise BackendError(
            f"cannot turn gpu_layers={layers} into LM Studio's offload ratio: the model's layer count is unknown",
            hint="give the backend option block_count (24 for gpt-oss-20b, 36 for gpt-oss-120b) or use max/off",
        )
    # Six significant digits: round(ratio × layers) recovers the layer count for any real model.
    return "max" if layers >= block_count else format(layers / block_count, ".6g")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may be another machine, so never run the local `lms` for it


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


class LmsCli:
    """`lms` at a path, run with a time-out; its output has the API key taken out."""

    def __init__(self, path: str, timeout_s: float, secret: str | None, remote: Sequence[str] = ()) -> None:
        """`remote`: a prefix that runs the command on the LM Studio machine (`ssh -- host`)."""
        self.path = path
        self.timeout_s = timeout_s
        self.secret = secret
        self.remote = tuple(remote)

    async def ps(self) -> list[dict[str, Any]]:
        """`lms ps --json`: the loaded instances."""
        out = await self.run(["ps", "--json"], "")
        try:
            rows = json.loads(out[out.find("[") :])  # tolerate a banner line before the JSON
        except ValueError:
            rows = None
        if not isinstance(rows, list):
            raise BackendError(f"`lms ps --json` printed something unexpected: {out.strip()[:200]!r}")
        return [p for p in rows if isinstance(p, dict)]

    async def run(self, args: list[str], model: str) -> str:
        """Run `lms ARGS` with a time-out; stdout on success, a readable BackendError otherwise."""
        cmd = f"lms {' '.join(args)}" + (f" (on {self.remote[-1]})" if self.remote else "")
        # ssh hands the far side one command line: quote each argument for its shell.
        argv = [*self.remote, shlex.join([self.path, *args])] if self.remote else [self.path, *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,  # never let lms wait on an interactive prompt
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise BackendError(f"cannot run `{cmd}`: {e}", hint="check the lms path") from None
        try:
            async with asyncio.timeout(self.timeout_s):  # not wait_for: it can lose a stop (wire.light)
                out_b, err_b = await proc.communicate()
        except TimeoutError:
            await _kill(proc)
            raise BackendTimeout(
                f"`{cmd}` did not finish within {self.timeout_s:.0f} s", hint="raise lms_timeout_s"
            ) from None
        except BaseException:  # cancelled: a load must not go on unattended
            await _kill(proc)
            raise
        out = redact(out_b.decode(errors="replace"), (self.secret,))
        err = redact(err_b.decode(errors="replace"), (self.secret,))
        if proc.returncode == 0:
            return out
        text = (err.strip() or out.strip())[-600:]
        if "server" in text.lower() and ("not running" in text.lower() or "connect" in text.lower()):
            raise BackendError(f"`{cmd}` could not reach LM Studio: {text}", hint=UNREACHABLE_HINT)
        low = text.lower()
        if model and ("no model found" in low or "cannot find" in low or "not found" in low):
            raise ModelNotFound(f"LM Studio has no model {model!r}: {text}", hint=NOT_FOUND_HINT)
        refused = load_refused(text, model) if model else None
        raise refused or BackendError(f"`{cmd}` failed (exit {proc.returncode}): {text}")
