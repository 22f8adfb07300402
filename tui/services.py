"""What the app works with, gathered in one place so tests can hand in fakes (`make_app`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from backends.runs.patterns import Pattern, PatternError, load_patterns

if TYPE_CHECKING:  # the first frame waits for none of these (benchmarks/startup.py)
    from backends.probes.sampler import HardwareSampler
    from backends.runs.pool import BackendPool
    from backends.runs.record import RunRecord
    from backends.runs.results import ResultsStore
    from backends.runs.stats import Clock

DEFAULT_FILE = "gptoss-top.toml"


@dataclass
class Services:
    pool: BackendPool
    # The results file: handed in (tests), or opened on first use, after the first frame (`store`).
    store_: ResultsStore | None = None
    sampler: HardwareSampler | None = None
    clock: Clock = time.perf_counter
    patterns: list[Pattern] = field(default_factory=list)
    pattern_path: str | None = None
    pattern_error: str | None = None
    repeat: int | None = None
    interval: float = 1.0
    health_interval: float = 3.0
    export_dir: str | None = None
    # Runs since the app started (the results panel); the store keeps every run ever.
    records: list[RunRecord] = field(default_factory=list)
    # The file's [hosts.NAME] tables as {name: telemetry}; the sampler reads each (README "Remote hosts").
    hosts: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> ResultsStore:
        if self.store_ is None:
            from backends.runs.results import ResultsStore

            self.store_ = ResultsStore()
        return self.store_

    def load(self) -> None:
        """(Re)read the pattern file; a bad file becomes `pattern_error`, shown in the UI."""
        if self.pattern_path is None:
            return
        try:
            pf = load_patterns(self.pattern_path)
            self.patterns = pf.patterns
            self.hosts = {h.name: h.telemetry for h in pf.hosts.values()}
            self.pattern_error = None
        except PatternError as e:
            self.pattern_error = str(e)
        except OSError as e:
            self.pattern_error = f"{self.pattern_path}: {e.strerror or e}"

    def no_patterns_hint(self) -> str:
        if self.pattern_error:
            return f"{self.pattern_error}\n\nFix the file, then press ctrl+r to reload it."
        return (
            "No patterns loaded.\n\nWrite a pattern file with `gptoss-top init`, then open it with "
            f"`gptoss-top --config {DEFAULT_FILE}`; or try `gptoss-top demo`."
        )


def file_hosts(path: str) -> dict[str, str]:
    """{name: telemetry} of a pattern file's hosts; {} when it cannot be read (load() says why)."""
    try:
        return {h.name: h.telemetry for h in load_patterns(path).hosts.values()}
    except (PatternError, OSError):
        return {}


def find_default_file() -> str | None:
    """`gptoss-top` with no arguments opens ./gptoss-top.toml when there is one (what `init` writes)."""
    p = Path(DEFAULT_FILE)
    return str(p) if p.is_file() else None
