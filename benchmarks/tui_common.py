"""Shared by the TUI benchmarks: run a command in a pseudo-terminal (or tmux) the way a user would.

A pty is drained by a thread the whole time, as a terminal would: an undrained pty fills up and
blocks the app's writes, which would measure the benchmark, not the app.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shlex
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from backends.servers.llamaserver import die_with_parent

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GPTOSS_TOP = str(VENV_BIN / "gptoss-top")

SMALL_CONFIG = """\
[defaults]
backend = "llamacpp"
url = "http://127.0.0.1:{port}"
model = "bench-model"
prompt = "Count the waves."
max_tokens = 64

[[patterns]]
name = "bench-alpha"
context_length = 4096
gpu_layers = 24

[[patterns]]
name = "bench-bravo"
context_length = 8192
gpu_layers = "off"
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def small_config(folder: Path) -> Path:
    """Two attach-mode patterns on a port nobody listens on: no server, no network beyond loopback."""
    path = folder / "bench.toml"
    path.write_text(SMALL_CONFIG.format(port=free_port()), encoding="utf-8")
    return path


def with_bytecode_cache(env: dict[str, str]) -> dict[str, str]:
    """Let the warm-up runs write .pyc files, so that the timed runs read them.

    An installed gptoss-top has them (pip compiles on install), and so has Textual in the venv; with
    PYTHONDONTWRITEBYTECODE set in the environment a checkout has none, and every timed start of the
    TUI compiled gptoss-top's ~80 modules from source (~10 % of its samples in py-spy) while the
    minimal app compiled nothing. They go to `__pycache__` beside the sources, which git ignores.
    (Not to a PYTHONPYCACHEPREFIX folder: with one set, the idle TUI measured ~10 MB more RSS.)
    """
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def bench_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GPTOSS_TOP_DATA_DIR=str(folder / "data"),
        GPTOSS_TOP_CONFIG_DIR=str(folder / "config"),
        TERM="xterm-256color",
        COLUMNS="100",
        LINES="30",
        PYTHONPATH=str(REPO),
    )
    env.pop("TEXTUAL", None)
    return env


class PtyProcess:
    """A child on a pty of a given size; everything it writes is kept (and can be waited for)."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (100, 30),
                 watch: tuple[str, ...] = ()) -> None:  # fmt: skip
        """`watch`: texts whose first appearance is timed from the first byte on (see `wait_for`)."""
        self.t_spawn = time.perf_counter()
        master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        # Its own session (so the pty is its terminal), but it dies with us: a benchmark killed by a
        # time-out must not leave a TUI writing to a closed pty for ever.
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO,
                                     start_new_session=True, close_fds=True, preexec_fn=die_with_parent)  # fmt: skip
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.seen_at: dict[bytes, float] = {}
        self._watch: list[bytes] = [w.encode() for w in watch]
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                # A long wait: a child that exits hangs the pty up, which wakes the select at once. A
                # short one woke this (the benchmark's) process 20 times a second beside the model.
                ready, _, _ = select.select([self.master], [], [], 1.0)
            except (OSError, ValueError):
                return
            if not ready:
                if self.proc.poll() is not None:
                    return
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            now = time.perf_counter()
            with self._cond:
                start = max(len(self.output) - 256, 0)
                self.output += data
                for w in self._watch:
                    if w not in self.seen_at and self.output.find(w, start) >= 0:
                        self.seen_at[w] = now
                self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> float | None:
        """Seconds from spawn until `text` was first written; None on timeout or exit."""
        key = text.encode()
        deadline = time.monotonic() + timeout
        with self._cond:
            self._watch.append(key)
            if key in self.output:
                self.seen_at.setdefault(key, time.perf_counter())
            while key not in self.seen_at:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._thread.is_alive()):
                    return None
                self._cond.wait(min(left, 0.1))
            return self.seen_at[key] - self.t_spawn

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self, timeout: float = 5.0) -> int | None:
        if self.proc.poll() is None:
            try:
                self.send(b"q")
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self._thread.join(2)
        os.close(self.master)
        return self.proc.returncode


class TmuxSession:
    """A command in a detached tmux session on a private server socket."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], size: tuple[int, int] = (100, 30)) -> None:
        self.name = name
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith(("GPTOSS_", "PYTHON")))
        # exec: the pane's process is the app itself, so its pid is the one to measure.
        shell = f"cd {shlex.quote(str(REPO))} && exec env {exports} TERM=xterm-256color {shlex.join(command)}"
        self._tmux("new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), shell)
        self.pid = int(self._tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def _tmux(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True, timeout=10)
        return r.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.screen():
                return True
            time.sleep(0.1)
        return False

    def kill(self) -> None:
        self._tmux("send-keys", "-t", self.name, "q")
        time.sleep(0.5)
        self._tmux("kill-server")


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"
