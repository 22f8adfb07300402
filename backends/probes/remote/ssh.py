"""`ssh://[user@]host[:port]`: run `gptoss-top probe --json` there with the system ssh; where
gptoss-top is not installed, fall back to the macOS one-shots (sysctl, vm_stat, ioreg) in one
connection, parsed by the Apple probe's parsers. No sudo on the far side, no password prompts
(BatchMode): keys or an ssh-agent, as `ssh HOST` alone would use them.

GPTOSS_TOP_SSH_OPTIONS adds options for every ssh gptoss-top runs (e.g. `-F ~/.ssh/lab_config`).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Sequence

from backends.probes.apple import IOREG, SYSCTL, VM_STAT, AppleProbe
from backends.probes.model import AppleSample, HostSample, ProbeReading
from backends.probes.remote.convert import TelemetryError, reading_from_dict
from backends.probes.remote.source import TelemetrySource

OPTIONS_ENV = "GPTOSS_TOP_SSH_OPTIONS"
_SEP = "@@gptoss-top@@"
# A non-interactive ssh session does not read the login profile: try where installers put it too.
_FIND = ('for c in gptoss-top "$HOME/.local/bin/gptoss-top" /opt/homebrew/bin/gptoss-top '
         '/usr/local/bin/gptoss-top; do if command -v "$c" >/dev/null 2>&1; then exec "$c" probe --json; fi; '
         "done; exit 127")  # fmt: skip


def ssh_argv(source: TelemetrySource, connect_timeout_s: float = 5.0, tty: bool = False) -> list[str]:
    """`ssh [options] [user@]host` without the remote command: a prefix for `lms` and the probes."""
    argv = ["ssh", *shlex.split(os.environ.get(OPTIONS_ENV, "")), "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={max(1, round(connect_timeout_s))}"]  # fmt: skip
    if tty:
        argv.append("-t")
    if source.port:
        argv += ["-p", str(source.port)]
    return [*argv, "--", source.destination]


class SshReader:
    def __init__(self, source: TelemetrySource, timeout_s: float = 10.0) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.mode: str | None = None  # "gptoss-top" or "macos" once known

    def _run(self, remote: str) -> subprocess.CompletedProcess[str]:
        argv = [*ssh_argv(self.source, min(self.timeout_s, 5.0)), remote]
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, check=False,
                                  stdin=subprocess.DEVNULL, errors="replace")  # fmt: skip
        except subprocess.TimeoutExpired:
            raise TelemetryError(f"{self.source.text}: no answer within {self.timeout_s:g} s") from None
        except OSError as e:
            raise TelemetryError(f"{self.source.text}: cannot run ssh ({e.strerror or e})") from None

    def read(self) -> ProbeReading:
        if self.mode != "macos":
            cmd = f"{shlex.quote(self.source.command)} probe --json" if self.source.command else _FIND
            done = self._run(cmd)
            if done.returncode == 255:
                raise TelemetryError(f"{self.source.text}: ssh failed: {_last_line(done.stderr)}")
            if done.returncode == 0:
                self.mode = "gptoss-top"
                try:  # a login banner or a warning may come before the JSON
                    return reading_from_dict(json.loads(done.stdout[done.stdout.find("{") :]))
                except ValueError:
                    raise TelemetryError(f"{self.source.text}: `gptoss-top probe --json` printed no JSON") from None
            if done.returncode != 127:
                raise TelemetryError(f"{self.source.text}: gptoss-top probe exited {done.returncode}: "
                                     f"{_last_line(done.stderr)}")  # fmt: skip
        return self._macos()

    def _macos(self) -> ProbeReading:
        cmds: Sequence[Sequence[str]] = (SYSCTL, VM_STAT, IOREG)
        script = f"; echo {_SEP}; ".join(" ".join(shlex.quote(a) for a in c) + " 2>/dev/null" for c in cmds)
        done = self._run(script)
        if done.returncode == 255:
            raise TelemetryError(f"{self.source.text}: ssh failed: {_last_line(done.stderr)}")
        parts = [*done.stdout.split(_SEP + "\n"), "", ""][:3]
        outputs = {c[0]: (p if p.strip() else None) for c, p in zip(cmds, parts, strict=True)}
        reading = AppleProbe(runner=lambda argv, _t: outputs.get(argv[0])).sample()
        apple = reading.apple
        if apple is None or (apple.memsize_bytes is None and apple.page_size is None):
            raise TelemetryError(f"{self.source.text}: gptoss-top is not installed there and it is not a Mac "
                                 "(no hw.memsize, no vm_stat): install gptoss-top there, or use an "
                                 "agent+http:// or node-exporter+http:// source")  # fmt: skip
        self.mode = "macos"
        return ProbeReading(apple=apple, host=host_from_apple(apple),
                            notes=("ssh: gptoss-top not found there; macOS one-shots",))  # fmt: skip

    def close(self) -> None:
        pass


def host_from_apple(apple: AppleSample) -> HostSample | None:
    """Memory in use from kern.memorystatus_level (the free share `memory_pressure` prints)."""
    total, free_pct = apple.memsize_bytes, apple.memory_free_percent
    avail = None if total is None or free_pct is None else total * free_pct // 100
    if total is None:
        return None
    return HostSample(mem_total_bytes=total, mem_available_bytes=avail,
                      mem_used_bytes=None if avail is None else total - avail,
                      swap_total_bytes=apple.swap_total_bytes, swap_used_bytes=apple.swap_used_bytes,
                      pressure=apple.pressure)  # fmt: skip


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:160] if lines else "no message"
