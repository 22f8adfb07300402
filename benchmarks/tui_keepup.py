"""Does the TUI keep up with a fast model? A 5,000 tok/s stream timed headless and inside the TUI.

The source is an in-process Backend that releases token i at t0 + i/rate (an absolute schedule:
whatever is due is handed over at once, as a socket buffer would), so a consumer that keeps up
finishes in N/rate seconds and one that holds up the event loop finishes later. The figure is the
run record's own `total_s` (prepare → last token) from `run_pattern`, in both cases.

Each run is its own child process, interleaved headless / TUI, and the TUI child runs the real app
with Textual's real Linux driver on a pseudo-terminal that the parent keeps reading, so every frame
is encoded and written as it would be over SSH (`App.run_test()`'s headless driver skips the writes
and would flatter the TUI). Goal: TUI ≤ 1.05 × headless (medians; issue 14).

    .venv/bin/python -m benchmarks.tui_keepup [--tokens 20000] [--rate 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from backends.base import (
    BackendKind,
    Capabilities,
    ChatRequest,
    ContentDelta,
    Finished,
    Health,
    LoadedModel,
    LoadSpec,
    Prepared,
    ReasoningDelta,
    StreamEvent,
)
from backends.runs.patterns import Pattern
from benchmarks.tui_common import PtyProcess, bench_env, load_note

WORDS = ("the ", "keeper ", "counts ", "waves ", "and ", "light ", "turns ", "over ", "grey ", "water.\n\n")


class PacedBackend:
    """Streams `tokens` word pieces at `rate` tok/s on the real clock: 30 % reasoning, then the answer."""

    kind: ClassVar[BackendKind] = "llamacpp"
    capabilities: ClassVar[Capabilities] = Capabilities(load_applies="server_start")
    pid: ClassVar[None] = None  # no process of its own for the probes to watch

    def __init__(self, tokens: int, rate: float) -> None:
        self.url = "http://127.0.0.1:1"
        self.tokens = tokens
        self.rate = rate

    async def health(self) -> Health:
        return Health(True, "ok", "paced")

    async def list_models(self) -> list[Any]:
        return []

    async def prepare(self, spec: LoadSpec) -> Prepared:
        return Prepared(load_s=0.0)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        n, rate = self.tokens, self.rate
        think = int(n * 0.3)
        t0 = time.perf_counter()
        i = 0
        while i < n:
            due = min(int((time.perf_counter() - t0) * rate) + 1, n)
            while i < due:
                w = WORDS[i % len(WORDS)]
                yield ReasoningDelta(w) if i < think else ContentDelta(w)
                i += 1
            if i < n:
                await asyncio.sleep(max(t0 + i / rate - time.perf_counter(), 0))
        yield Finished("length")

    async def loaded(self) -> list[LoadedModel]:
        return []

    async def aclose(self) -> None:
        pass


def pattern(tokens: int) -> Pattern:
    return Pattern(name="keepup", backend="llamacpp", url="http://127.0.0.1:1", model="paced", prompt="go",
                   max_tokens=tokens, context_length=4096)  # fmt: skip


def child_headless(tokens: int, rate: float, out: Path) -> None:
    from backends.runs.session import run_pattern

    cpu0 = time.process_time()
    rec = asyncio.run(run_pattern(pattern(tokens), PacedBackend(tokens, rate)))
    out.write_text(json.dumps({"total_s": rec.total_s, "ok": rec.ok, "tokens": rec.completion_tokens,
                               "cpu_s": time.process_time() - cpu0}))  # fmt: skip


def child_tui(tokens: int, rate: float, out: Path) -> None:
    from backends.runs.results import ResultsStore
    from tui.app import make_app

    p = pattern(tokens)
    backend = PacedBackend(tokens, rate)
    sampler = None
    try:
        from backends.probes import Sampler

        sampler = Sampler(interval_s=1.0)  # as the real app runs: probes on during the run
    except Exception:
        sampler = None
    app = make_app(patterns=[p], pool_factory=lambda _: backend, sampler=sampler,
                   store=ResultsStore(out.with_suffix(".jsonl")))  # fmt: skip

    async def go() -> None:
        await asyncio.sleep(1.0)  # first frame drawn and settled
        main = app.main
        cpu0 = time.process_time()
        if os.environ.get("KEEPUP_RAW"):  # --raw-answer: the answer as raw text only, no Markdown
            main.action_raw()
        main.action_run()
        assert main.run_worker_ is not None
        await main.run_worker_.wait()
        rec = app.services.records[-1]
        out.write_text(json.dumps({"total_s": rec.total_s, "ok": rec.ok, "tokens": rec.completion_tokens,
                                   "cpu_s": time.process_time() - cpu0}))  # fmt: skip
        await asyncio.sleep(0.3)
        # Not from here: quitting cancels every worker, this one included, before it could exit.
        app.call_later(app.action_quit)

    app.call_later(lambda: app.run_worker(go(), exclusive=False))
    app.run()


def run_child(mode: str, tokens: int, rate: float, folder: Path, n: int) -> dict[str, Any]:
    out = folder / f"{mode}-{n}.json"
    argv = [sys.executable, "-m", "benchmarks.tui_keepup", "--child", mode, "--tokens", str(tokens),
            "--rate", str(rate), "--out", str(out)]  # fmt: skip
    if mode == "headless":
        subprocess.run(argv, check=True, timeout=300, env=bench_env(folder), stdout=subprocess.DEVNULL)
    else:
        proc = PtyProcess(argv, bench_env(folder), size=(100, 30))
        try:
            proc.proc.wait(300)
        finally:
            proc.close()
        if proc.proc.returncode:
            raise RuntimeError(
                f"TUI child failed ({proc.proc.returncode}): {proc.output[-2000:].decode(errors='replace')}"
            )
    return dict(json.loads(out.read_text()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--runs", type=int, default=3, help="runs of each, interleaved")
    ap.add_argument("--raw-answer", action="store_true", help="the TUI shows the answer raw (no Markdown rendering)")
    ap.add_argument("--child", choices=("headless", "tui"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "headless":
        child_headless(a.tokens, a.rate, Path(a.out))
        return 0
    if a.child == "tui":
        child_tui(a.tokens, a.rate, Path(a.out))
        return 0

    if a.raw_answer:
        os.environ["KEEPUP_RAW"] = "1"  # the TUI children inherit it through bench_env
    ideal = a.tokens / a.rate
    print(f"{a.tokens} tokens at {a.rate:.0f} tok/s (ideal {ideal:.2f} s); TUI on a pty at 100x30; {load_note()}")
    times: dict[str, list[float]] = {"headless": [], "tui": []}
    cpu: dict[str, list[float]] = {"headless": [], "tui": []}
    with tempfile.TemporaryDirectory(prefix="tui-keepup-") as tmp:
        for n in range(a.runs):
            for mode in ("headless", "tui"):
                r = run_child(mode, a.tokens, a.rate, Path(tmp), n)
                if not r["ok"] or r["tokens"] != a.tokens:
                    print(f"run {n + 1} {mode}: bad run {r}", file=sys.stderr)
                    return 1
                times[mode].append(r["total_s"])
                cpu[mode].append(r["cpu_s"] / r["total_s"] * 100)
                print(f"run {n + 1} {mode:<8} {r['total_s']:.3f} s  ({a.tokens / r['total_s']:.0f} tok/s), "
                      f"process CPU {cpu[mode][-1]:.0f} % of one core during the run", flush=True)  # fmt: skip
    h, t = statistics.median(times["headless"]), statistics.median(times["tui"])
    ratios = [tt / hh for hh, tt in zip(times["headless"], times["tui"], strict=True)]
    print(f"\nmedian headless {h:.3f} s, TUI {t:.3f} s; ratio {t / h:.3f}× "
          f"(per pair: {', '.join(f'{r:.3f}' for r in ratios)}); after: {load_note()}")  # fmt: skip
    print(f"median CPU during the run: headless {statistics.median(cpu['headless']):.0f} %, "
          f"TUI {statistics.median(cpu['tui']):.0f} % of one core (the headroom left for a faster model)")  # fmt: skip
    print(f"goal ≤ 1.05×: {'OK' if t / h <= 1.05 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
