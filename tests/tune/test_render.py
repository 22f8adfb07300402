"""The tune's answer as table (with the chart), markdown, csv and json — the JSON is a contract."""

from __future__ import annotations

import csv
import io
import json

import pytest

from backends.runs.patterns import parse_patterns
from backends.runs.record import RunRecord
from backends.runs.tune import Sample, StartHint, search
from backends.runs.tune_driver import TunePlan, TuneReport
from backends.runs.tune_render import render
from tests.fakes.speed import SpeedModel


def report(best_possible: bool = True) -> TuneReport:
    speed = SpeedModel(fit=20, peak=16, decline=0.08, noise=0.02, seed=1)
    pattern = parse_patterns({"patterns": [{"name": "C", "backend": "ollama", "model": "gpt-oss:20b"}]}, "t").patterns[
        0
    ]

    def measure(value: int, warmup: bool) -> Sample:
        rec = RunRecord("C", "ollama", "u", "gpt-oss:20b", None, value, 0 if warmup else 1, "t", ok=True)
        rec.decode_tps, rec.prompt_tps, rec.ttft_s = speed.draw(value), 800.0, 0.2
        rec.memory_pressure_peak, rec.peak_vram_bytes = "normal", 9 * 2**30
        return Sample(rec.decode_tps, record=rec)

    out = search(measure, range(25), hint=StartHint(20, "fit: card"))
    plan = TunePlan("gpu_layers", tuple(range(25)), StartHint(20, "fit: card"), 24,
                    {v: v * 2**29 for v in range(25)}, dict.fromkeys(range(25), "fits"), "card")  # fmt: skip
    return TuneReport(pattern, plan, out, "tune-0000", 38, 3)


def test_json_has_the_contract_keys() -> None:
    d = json.loads(render(report(), "json"))
    assert {"param", "best", "stopped", "settings"} <= d.keys()
    assert d["param"] == "gpu_layers" and d["best"] == 16 and d["stopped"] in ("confident", "budget")
    s = d["settings"][0]
    assert {"value", "runs", "decode_tps_mean", "decode_tps_sd"} <= s.keys()
    assert [x["value"] for x in d["settings"]] == sorted(x["value"] for x in d["settings"])
    best = next(x for x in d["settings"] if x["value"] == 16)
    assert best["predicted_gpu_bytes"] == 8 * 2**30 and best["peak_vram_bytes"] == 9 * 2**30
    assert best["prompt_tps_mean"] == 800.0
    assert best["ttft_s_mean"] == pytest.approx(0.2)


def test_table_names_the_winner_and_draws_the_curve_with_the_fit_boundary() -> None:
    text = render(report(), "table")
    assert "16 *" in text
    assert "best gpu_layers = 16" in text and "ahead of" in text and "confidence" in text
    assert "│" in text and "fits up to 20" in text
    assert "decode tok/s" in text and "peak VRAM" in text and "swap" in text


def test_markdown_and_csv_have_a_row_per_setting_tried() -> None:
    r = report()
    tried = [s for s in r.outcome.settings if s.n or s.failures]
    md = render(r, "markdown")
    assert md.count("\n| ") == len(tried)  # the rows below the header and its separator
    rows = list(csv.DictReader(io.StringIO(render(r, "csv"))))
    assert [int(x["value"]) for x in rows] == [s.value for s in tried]
