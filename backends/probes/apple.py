"""Apple Silicon without sudo: ioreg (GPU), sysctl (pressure, swap, wired limit), vm_stat (pages).

One pass per tick runs three commands, each under a time-out; a command that hangs or is missing
leaves its fields None. The runner is injectable so tests replay real outputs. powermetrics would
give power and frequency but needs root, which a user over SSH does not have.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence

from backends.probes.model import AppleSample, PressureLevel, ProbeReading

# (argv, timeout_s) -> stdout, or None when the command could not run or did not finish in time.
Runner = Callable[[Sequence[str], float], str | None]

IOREG = ("ioreg", "-r", "-d", "1", "-w", "0", "-c", "IOAccelerator")
SYSCTL_NAMES = (
    "kern.memorystatus_vm_pressure_level",
    "kern.memorystatus_level",
    "vm.swapusage",
    "hw.memsize",
    "iogpu.wired_limit_mb",
)
# Names with values rather than `-n`: one process for all five, and a name that this macOS lacks
# (iogpu.* before macOS 14) costs only its own line instead of shifting every value after it.
SYSCTL = ("sysctl", *SYSCTL_NAMES)
VM_STAT = ("vm_stat",)

# kern.memorystatus_vm_pressure_level returns dispatch constants: 1 normal, 2 warn, 4 critical.
_PRESSURE: dict[int, PressureLevel] = {1: "normal", 2: "warn", 4: "critical"}


def run_command(argv: Sequence[str], timeout_s: float) -> str | None:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False,
            stdin=subprocess.DEVNULL, errors="replace",
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):  # missing binary, time-out
        return None
    # sysctl exits non-zero when one name is unknown but still prints the others.
    return done.stdout if done.stdout else None


class AppleProbe:
    name = "apple"

    def __init__(self, runner: Runner = run_command, timeout_s: float = 1.0) -> None:
        self._run = runner
        self._timeout = timeout_s
        self._silent: list[str] = []  # commands that gave nothing in the current pass

    def sample(self) -> ProbeReading:
        self._silent = []
        try:
            apple = self.read()
        except Exception as e:  # the contract: never raise into the sampler
            return ProbeReading(state="error", notes=(f"apple: {type(e).__name__}: {e}",))
        # Blank fields alone do not tell the user why; name the command that did not answer.
        notes = tuple(
            f"apple: `{cmd}` gave no output (missing, or no answer within {self._timeout:g} s): its figures are blank"
            for cmd in self._silent
        )
        return ProbeReading(apple=apple, notes=notes)

    def read(self) -> AppleSample:
        ioreg = parse_ioreg(self._call(IOREG))
        sysctl = parse_sysctl(self._call(SYSCTL))
        vm = parse_vm_stat(self._call(VM_STAT))
        page = vm.get("page size")

        def pages(key: str) -> int | None:
            n = vm.get(key)
            return None if n is None or page is None else n * page

        raw = sysctl.get("kern.memorystatus_vm_pressure_level")
        level = _parse_int(raw)
        swap_total, swap_used = parse_swapusage(sysctl.get("vm.swapusage"))
        return AppleSample(
            model=ioreg.model,
            gpu_util_percent=_pct(ioreg.stats.get("Device Utilization %")),
            gpu_renderer_percent=_pct(ioreg.stats.get("Renderer Utilization %")),
            gpu_in_use_bytes=ioreg.stats.get("In use system memory"),
            gpu_alloc_bytes=ioreg.stats.get("Alloc system memory"),
            pressure_raw=level,
            pressure=_PRESSURE.get(level) if level is not None else None,
            memory_free_percent=_parse_int(sysctl.get("kern.memorystatus_level")),
            memsize_bytes=_parse_int(sysctl.get("hw.memsize")),
            wired_limit_mb=_parse_int(sysctl.get("iogpu.wired_limit_mb")),
            swap_total_bytes=swap_total,
            swap_used_bytes=swap_used,
            page_size=page,
            free_bytes=pages("Pages free"),
            wired_bytes=pages("Pages wired down"),
            compressed_bytes=pages("Pages occupied by compressor"),
            swapins=vm.get("Swapins"),
            swapouts=vm.get("Swapouts"),
        )

    def _call(self, argv: Sequence[str]) -> str | None:
        try:
            out = self._run(argv, self._timeout)
        except Exception:  # an injected runner that raises is treated like a missing command
            out = None
        if out is None:
            self._silent.append(argv[0])
        return out


# --------------------------------------------------------------------------------------------------
# Parsers: pure, each takes the command's stdout (or None) and never raises.


class IoregGpu:
    def __init__(self, model: str | None, stats: dict[str, int]) -> None:
        self.model = model
        self.stats = stats


# Exact keys with their closing quote: "In use system memory" must not match
# "In use system memory (driver)", and a loose scan once read "lastRecoveryTime" as utilisation.
_STAT = re.compile(r'"([^"=]+)"=(\d+)')
_PERF = re.compile(r'"PerformanceStatistics"\s*=\s*\{([^}]*)\}')
_MODEL = re.compile(r'"model"\s*=\s*<?"([^"]*)"')


def parse_ioreg(text: str | None) -> IoregGpu:
    """The first accelerator that reports PerformanceStatistics (Apple Silicon has one)."""
    if not text:
        return IoregGpu(None, {})
    # Properties come in no particular order, so split on the node lines ("+-o AGX...") first and
    # read the model and the statistics of the same node.
    nodes = re.split(r"^\s*\+-o ", text, flags=re.MULTILINE)
    for node in nodes:
        perf = _PERF.search(node)
        if perf is None:
            continue
        stats = {k: int(v) for k, v in _STAT.findall(perf.group(1))}
        model = _MODEL.search(node)
        return IoregGpu(model.group(1) if model else None, stats)
    return IoregGpu(None, {})


def parse_sysctl(text: str | None) -> dict[str, str]:
    """`name: value` lines (also `name = value`, as some sysctls print) → {name: value}."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        m = re.match(r"^([\w.]+)\s*[:=]\s*(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


_SWAP = re.compile(r"(total|used|free)\s*=\s*([\d.,]+)\s*([KMGT]?)")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_swapusage(value: str | None) -> tuple[int | None, int | None]:
    """`total = 2048.00M  used = 1141.31M  free = 906.69M  (encrypted)` → (total, used) bytes.

    Units vary (K/M/G) and some locales print a decimal comma (`1024,00M`).
    """
    if not value:
        return None, None
    found: dict[str, int] = {}
    for key, num, unit in _SWAP.findall(value):
        try:
            found[key] = round(float(num.replace(",", ".")) * _UNITS[unit])
        except ValueError:
            continue
    return found.get("total"), found.get("used")


def parse_vm_stat(text: str | None) -> dict[str, int]:
    """{line label: count} plus "page size"; counts are pages (the header says how big)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        m = re.search(r"page size of (\d+) bytes", line)
        if m:
            out["page size"] = int(m.group(1))
            continue
        label, sep, value = line.rpartition(":")
        if not sep:
            continue
        value = value.strip().rstrip(".")
        if value.isdigit():
            out[label.strip().strip('"')] = int(value)
    return out


def _parse_int(v: str | int | None) -> int | None:
    if v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _pct(v: int | None) -> float | None:
    # A percentage outside 0..100 is a parse of the wrong field, not a reading.
    return float(v) if v is not None and 0 <= v <= 100 else None
