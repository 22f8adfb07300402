"""Where the selected pattern's bytes would go: weights · KV · compute · free, on the GPU and the host.

One stacked bar per side, each kind its own glyph so it reads without colour (█ weights, ▓ KV cache,
▒ compute, ░ free), scaled to that side's budget; after a run the server's own figures beside it.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui.widgets.fmt import DASH

WIDTH = 14
GIB, MIB = 1 << 30, 1 << 20
VERDICT_STYLE = {"fits": "green", "spills": "yellow", "swap": "bold red", "unknown": "dim"}
SEGMENTS = (("█", "blue"), ("▓", "magenta"), ("▒", "yellow"))  # weights, KV, compute


def size(n: int | None) -> str:
    """GiB with one decimal, or whole MiB below 1 GiB (the demo models are a few MiB)."""
    if n is None:
        return DASH
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def stacked(parts: tuple[int, int, int], budget: int | None, width: int = WIDTH) -> Text:
    """Weights, KV and compute as blocks of one bar; the rest of the budget as free space."""
    need = sum(parts)
    scale = max(budget or 0, need, 1)
    t = Text()
    used = 0
    for (glyph, style), n in zip(SEGMENTS, parts, strict=True):
        cells = round(n / scale * width)
        cells = min(cells, width - used)
        t.append(glyph * cells, style=style)
        used += cells
    if budget is not None and need > budget:
        return t.append("!", style="bold red")  # over the budget: the bar is the need, not the budget
    return t.append("░" * (width - used), style="dim")


def _side(label: str, parts: tuple[int | None, ...], need: int | None, budget: int | None) -> Text:
    t = Text(f"{label:<5}", style="dim")
    known = tuple(p or 0 for p in parts)
    if all(p is None for p in parts):
        t.append("·" * WIDTH, style="dim")
    else:
        t.append_text(stacked((known[0], known[1], known[2]), budget))
    t.append(f" {size(need)}/{size(budget)}")
    return t


def fit_text(est: Any | None, loaded: tuple[int | None, int | None] | None = None) -> Text:
    """The panel's text for a FitEstimate (None: not estimated yet); `loaded`: (GPU, host) after a run."""
    if est is None:
        return Text("estimating…", style="dim")
    t = Text()
    t.append(est.verdict, style=VERDICT_STYLE.get(est.verdict, ""))
    t.append(f"  {est.pattern}", style="bold")
    if est.source:
        t.append(f"  from {est.source}", style="dim")
    if est.verdict == "unknown" and not est.gpu_bytes and not est.host_bytes:
        t.append(f"\n{est.notes[0] if est.notes else 'no estimate'}", style="dim")
        return t
    if est.budget_gpu_bytes is not None or est.gpu_bytes:
        gpu = (est.model_gpu_bytes, est.kv_gpu_bytes, est.compute_gpu_bytes)
        t.append("\n").append_text(_side("GPU", gpu, est.gpu_bytes, est.budget_gpu_bytes))
    host = (est.model_host_bytes, est.kv_host_bytes, est.compute_host_bytes)
    t.append("\n").append_text(_side("host", host, est.host_bytes, est.budget_host_bytes))
    t.append("\n█ weights ▓ KV ▒ compute ░ free", style="dim")
    if est.max_gpu_layers is not None or est.min_n_cpu_moe is not None:
        t.append("\nfits with: ", style="dim")
        t.append(f"gpu_layers ≤ {DASH if est.max_gpu_layers is None else est.max_gpu_layers}")
        if est.min_n_cpu_moe is not None:
            t.append(f", n_cpu_moe ≥ {est.min_n_cpu_moe}")
    if loaded is not None:
        t.append("\nloaded: ", style="dim")
        t.append(f"GPU {size(loaded[0])}, host {size(loaded[1])}")
        t.append(f"\npredicted: GPU {size(est.gpu_bytes)}, host {size(est.host_bytes)}", style="dim")
    return t


class FitBar(Static):
    """The fit of the selected pattern; `show` is cheap and may be called on every highlight."""

    DEFAULT_CSS = "FitBar { height: auto; }"

    def show(self, est: Any | None, loaded: tuple[int | None, int | None] | None = None) -> None:
        self.update(fit_text(est, loaded))
