"""A tune's answer for people and scripts: per-setting rows, the winner, a terminal chart of the curve.

JSON (contract, README "Tune"): `{"param", "best", "stopped", "settings": [{"value", "runs",
"decode_tps_mean", "decode_tps_sd", …}], …}`, `stopped` one of confident | no_difference | budget.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from typing import Any

from backends.runs.tune import Setting
from backends.runs.tune_driver import TuneReport, values_text

_PRESSURE = {"normal": 0, "warn": 1, "critical": 2}
COLUMNS = ("value", "runs", "failed", "slow", "decode_tps_mean", "decode_tps_sd", "prompt_tps_mean", "ttft_s_mean",
           "predicted_gpu_bytes", "fit_verdict", "peak_vram_bytes", "memory_pressure_peak", "swap_delta_bytes",
           "error")  # fmt: skip


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def setting_row(report: TuneReport, s: Setting) -> dict[str, Any]:
    counted = [r for r in s.records if r.ok and r.repeat != 0]
    every = s.records
    vram = [r.peak_vram_bytes for r in every if r.peak_vram_bytes is not None]
    swap = [r.swap_delta_bytes for r in every if r.swap_delta_bytes is not None]
    press = [r.memory_pressure_peak for r in every if r.memory_pressure_peak in _PRESSURE]
    return {
        "value": s.value,
        "runs": s.n,
        "failed": s.failures,
        "slow": len(s.slow),
        "warmups": s.warmups,
        "decode_tps_mean": s.mean,
        "decode_tps_sd": s.sd,
        "prompt_tps_mean": _mean([r.prompt_tps for r in counted if r.prompt_tps is not None]),
        "ttft_s_mean": _mean([r.ttft_s for r in counted if r.ttft_s is not None]),
        "predicted_gpu_bytes": report.plan.predicted_gpu_bytes.get(s.value),
        "fit_verdict": report.plan.fit_verdicts.get(s.value),
        "peak_vram_bytes": max(vram) if vram else None,
        "memory_pressure_peak": max(press, key=lambda p: _PRESSURE[p or "normal"]) if press else None,
        "swap_delta_bytes": max(swap) if swap else None,
        "error": s.error if s.failures else None,
    }


def tried(report: TuneReport) -> list[Setting]:
    return [s for s in report.outcome.settings if s.n or s.failures or s.warmups]


def to_dict(report: TuneReport) -> dict[str, Any]:
    o = report.outcome
    return {
        "param": report.plan.param,
        "best": o.best,
        "stopped": o.stopped,
        "runner_up": o.runner_up,
        "margin_tps": o.margin,
        "confidence": o.confidence,
        "noise_cv": o.cv,
        "drift_cv": o.drift,
        "same_load": o.same_load,
        "pattern": report.pattern.name,
        "model": report.pattern.model,
        "backend": report.pattern.backend,
        "tune_id": report.tune_id,
        "values": values_text(report.plan.values),
        "fit_max": report.plan.hint.max_fit,
        "fit_source": report.plan.fit_source,
        "runs": o.runs,
        "budget": report.budget,
        "repeat": report.repeat,
        "grid_runs": o.grid_runs,
        "notes": list(report.plan.notes),
        "settings": [setting_row(report, s) for s in tried(report)],
    }


def to_json(report: TuneReport) -> str:
    return json.dumps(to_dict(report), ensure_ascii=False, indent=2) + "\n"


def to_csv(report: TuneReport) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for s in tried(report):
        w.writerow({k: ("" if v is None else v) for k, v in setting_row(report, s).items()})
    return buf.getvalue()


def _gib(n: int | None) -> str:
    return "—" if n is None else f"{n / 2**30:.1f} GiB"


def _f(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _cells(report: TuneReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for s in tried(report):
        d = setting_row(report, s)
        tps = "failed" if s.n == 0 else _f(d["decode_tps_mean"]) + (f" ± {_f(d['decode_tps_sd'])}" if s.sd else "")
        mark = " *" if s.value == report.outcome.best else ""
        runs = f"{s.n}/{s.n + s.failures + len(s.slow)}" if s.failures or s.slow else str(s.n)
        rows.append((f"{s.value}{mark}", tps, _f(d["prompt_tps_mean"], 1), _f(d["ttft_s_mean"]), runs,
                     _gib(d["predicted_gpu_bytes"]), _gib(d["peak_vram_bytes"]), d["memory_pressure_peak"] or "—",
                     _gib(d["swap_delta_bytes"])))  # fmt: skip
    return rows


HEAD = ("setting", "decode tok/s", "prefill tok/s", "TTFT s", "runs", "predicted GPU", "peak VRAM", "pressure",
        "swap")  # fmt: skip


def summary(report: TuneReport) -> str:
    """The answer in one sentence: the winner with margin and confidence, or why there is none."""
    o, param = report.outcome, report.plan.param
    spent = f"{o.runs} runs (a full grid: {o.grid_runs})"
    if o.stopped == "no_difference":
        if o.same_load:
            return (f"no difference: the server loaded the very same bytes in the same places at both ends "
                    f"of the {param} range, so it ignores the setting here — keep any; {spent}")  # fmt: skip
        drift = f" and the drift between server starts ({100 * o.drift:.1f} %)" if o.drift else ""
        return f"no difference: every {param} tried is within the others' noise{drift} — keep any; {spent}"
    if o.best is None:
        return f"no answer: every load or run failed; {spent}"
    best = next(s for s in o.settings if s.value == o.best)
    text = f"best {param} = {o.best}: {_f(best.mean)} tok/s"
    if o.runner_up is not None and o.margin is not None:
        pct = 100 * o.margin / (best.mean or 1) if best.mean else 0.0
        text += f", {_f(o.margin)} tok/s ({pct:.1f} %) ahead of {o.runner_up}"
    if o.confidence is not None:
        text += f", confidence {100 * o.confidence:.0f} %"
    if o.drift:
        text += f" (server starts drift {100 * o.drift:.1f} %)"
    why = {"confident": "its interval clears the runner-up's", "budget": "the budget is spent"}[o.stopped]
    return f"{text} — stopped: {o.stopped} ({why}); {spent}"


def to_table(report: TuneReport) -> str:
    rows = [HEAD, *_cells(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    out = [line.rstrip() for line in lines]
    return "\n".join([*out, "", summary(report), "", chart(report)]) + "\n"


def to_markdown(report: TuneReport) -> str:
    head = "| " + " | ".join(HEAD) + " |"
    sep = "|---|" + "---:|" * (len(HEAD) - 2) + "---|"
    rows = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in _cells(report)]
    return "\n".join([head, sep, *rows, "", summary(report)]) + "\n"


def chart(report: TuneReport, height: int = 8) -> str:
    """tok/s against the setting, one column per value; `│` marks the fit boundary, `x` a failed load."""
    settings = report.outcome.settings
    means = {s.value: s.mean for s in settings if s.mean is not None}
    if not means:
        return ""
    top = max(v for v in means.values() if v is not None)
    cols = list(range(min(report.plan.values), max(report.plan.values) + 1))
    width = 3 if len(cols) <= 30 else 2
    failed = {s.value for s in settings if s.failures and s.n == 0}
    # The boundary sits between the last setting that fits and the first that spills.
    b = report.plan.hint.max_fit
    split = None if b is None else (b if report.plan.param == "gpu_layers" else b - 1)
    lines = []
    for row in range(height, 0, -1):
        cells = []
        for v in cols:
            m = means.get(v)
            if m is not None:
                ch = "█" if m / top * height >= row - 0.5 else " "
            else:
                ch = ("x" if v in failed else "·") if row == 1 else " "
            cells.append(ch.center(width) + ("│" if v == split else ""))
        label = f"{top * row / height:7.1f} " if row in (height, height // 2, 1) else " " * 8
        lines.append(label + "".join(cells))
    axis = "".join((str(v) if i % 2 == 0 else "").rjust(width) + (" " if v == split else "")
                   for i, v in enumerate(cols))  # fmt: skip
    lines.append(" " * 8 + axis)
    lines.append(" " * 8 + f"tok/s by {report.plan.param}; · not run, x failed to load" + _boundary_note(b, report))
    return "\n".join(line.rstrip() for line in lines)


def _boundary_note(boundary: int | None, report: TuneReport) -> str:
    if boundary is None:
        return "; no fit prediction"
    side = "above" if report.plan.param == "gpu_layers" else "below"
    return f"; │ the fit boundary (fits up to {boundary}, spills {side})"


def render(report: TuneReport, fmt: str) -> str:
    return {"table": to_table, "markdown": to_markdown, "csv": to_csv, "json": to_json}[fmt](report)
