"""gptoss-top's own CPU priority: below the server it measures while that server runs on this machine.

A monitor that takes CPU from a CPU-bound model reports a slower model than the user has (on a
2-core machine a TUI's redraws cost a local llama-server 2-25 % of its decode rate; see
benchmarks/observer.py). So the `gptoss-top` command lowers its own scheduling priority (raises its
nice value, 10 by default) when a run starts against a server on this machine; the server keeps the
priority it has. `--nice 0` or `GPTOSS_TOP_NICE=0` turns it off. A library user of `backends` gets
nothing lowered unless they call `configure`.

Two rules of the OS shape this (setpriority(2), sched(7)):

- An unprivileged process may raise its nice value but never lower it again (RLIMIT_NICE is 0 by
  default), so the change lasts until gptoss-top exits.
- On Linux a nice value belongs to a thread, and a new thread or child process inherits the value of
  the thread that created it. A llama-server gptoss-top starts must not inherit the lowered value, so
  it is started by `popen` from a thread created before anything was lowered, which is left alone.
  Elsewhere (macOS, BSD) the value is per process: gptoss-top lowers itself only while it manages no
  server, since a managed server started later would inherit it.
- Where Linux groups tasks by session (autogroup, sched(7)), CPU time is shared between the groups
  first, and a nice value only counts inside its own: against a server of another session the
  lowering does not act. Lowering the session's group as well (/proc/self/autogroup) was measured and
  left out: at a level that helped the server, it starved the TUI (benchmarks/README.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import SplitResult, urlsplit

ENV = "GPTOSS_TOP_NICE"
DEFAULT_NICE = 10
LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}

_lock = threading.Lock()
_nice = 0  # how far to lower; 0 = leave the priority alone (the library default)
_lowered = False
_spawner: ThreadPoolExecutor | None = None
_spawner_tid: int | None = None
_managed = False  # a server was started by popen (per-process platforms must not lower then)


def nice_from_env(default: int = DEFAULT_NICE) -> int:
    """The nice increment asked for by GPTOSS_TOP_NICE, else `default`; a bad value is the default."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return default
    try:
        return max(0, min(int(raw), 19))
    except ValueError:
        return default


def configure(nice: int) -> None:
    """Lower by `nice` (0-19) when a run starts against a local server; 0 turns it off.

    Starts the spawner thread now, while this thread still has the priority the user gave us."""
    global _nice
    with _lock:
        _nice = max(0, min(int(nice), 19))
        if _nice and sys.platform.startswith("linux"):
            _ensure_spawner()


def _ensure_spawner() -> None:
    global _spawner, _spawner_tid
    if _spawner is None:
        _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gptoss-top-spawner")
        _spawner_tid = _spawner.submit(threading.get_native_id).result()


def _split(url: str | None) -> SplitResult | None:
    if not url:
        return None
    try:
        return urlsplit(url if "//" in url else f"http://{url}")
    except ValueError:
        return None


def is_local(url: str | None) -> bool:
    """True for a URL whose host is this machine (a managed llama-server always is)."""
    parts = _split(url)
    host = parts.hostname if parts is not None else None
    return host is not None and (host in LOOPBACK or host.startswith("127."))


def port_of(url: str | None) -> int | None:
    """The URL's port (None: none given, or not a URL)."""
    parts = _split(url)
    try:
        return parts.port if parts is not None else None
    except ValueError:  # a port out of range
        return None


def on_this_machine(url: str | None, host: str | None = None, managed: bool = False) -> bool:
    """Does this server's process run here, where its CPU may be computing the model? One gptoss-top
    started (`managed`), or one at a loopback URL of a pattern with no other `host` (a pattern of another
    host may reach its server through a loopback tunnel)."""
    return host is None and (managed or is_local(url))


def lowered() -> bool:
    return _lowered


def lower_for(urls: list[str | None], managed: bool = False) -> bool:
    """A run is starting against these servers: lower our priority if one of them is local.

    `managed`: a server gptoss-top starts itself (local by definition). Returns True when the
    priority is (now or already) lowered."""
    global _lowered
    with _lock:
        if _lowered or not _nice or not (managed or any(is_local(u) for u in urls)):
            return _lowered
        if sys.platform.startswith("linux"):
            _ensure_spawner()
            _lower_threads(_nice, keep=_spawner_tid)
        elif not (managed or _managed) and hasattr(os, "nice"):
            try:
                os.nice(_nice)
            except OSError:
                return False
        else:
            return False
        _lowered = True
        return True


def _lower_threads(nice: int, keep: int | None) -> None:
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [threading.get_native_id()]
    for tid in tids:
        if tid == keep:
            continue
        try:
            now = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(now + nice, 19))
        except OSError:
            continue  # the thread ended meanwhile, or the OS said no: priority is a courtesy


def popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen` for a server gptoss-top runs: it keeps the user's priority, not our lowered one."""
    global _managed
    _managed = True
    spawner = _spawner
    if spawner is None:
        return subprocess.Popen(argv, **kwargs)
    return spawner.submit(lambda: subprocess.Popen(argv, **kwargs)).result()
