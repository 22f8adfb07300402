"""The results store and the exports."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from backends.runs.record import CONTRACT_FIELDS, RunRecord
from backends.runs.results import ResultsStore, load_records, render, summarize, to_markdown


def rec(pattern: str, tps: float | None, ok: bool = True, **kw: object) -> RunRecord:
    r = RunRecord(pattern=pattern, backend="lmstudio", url="http://127.0.0.1:1234", model="openai/gpt-oss-20b",
                  context_length=4096, gpu_layers=24 if pattern == "A" else 23, repeat=1, started_at="2026-11-28T00:00:00Z",
                  ok=ok, decode_tps=tps, stats_source="server" if tps else None, ttft_s=0.5 if ok else None)  # fmt: skip
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_append_is_one_json_line_per_run_and_reads_back(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r" / "results.jsonl")
    assert store.append(rec("A", 120.0)) is None
    assert store.append(rec("B", None, ok=False, error="boom")) is None
    lines = store.path.read_text().splitlines()
    assert len(lines) == 2
    assert list(json.loads(lines[0]))[: len(CONTRACT_FIELDS)] == list(CONTRACT_FIELDS)
    back = store.load()
    assert [(r.pattern, r.ok, r.error, r.decode_tps) for r in back] == [
        ("A", True, None, 120.0),
        ("B", False, "boom", None),
    ]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    ResultsStore(path).append(rec("A", 1.0))
    with open(path, "a") as f:
        f.write('{"pattern": "B", "backe')
    assert [r.pattern for r in load_records(path)] == ["A"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only directory")
def test_read_only_directory_keeps_the_record_in_memory(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    store = ResultsStore(d / "results.jsonl")
    err = store.append(rec("A", 1.0))
    assert err is not None and "could not save" in err and "GPTOSS_TOP_DATA_DIR" in err
    assert [r.pattern for r in store.unsaved] == ["A"]


def test_a_write_that_fails_keeps_the_record_in_memory(tmp_path: Path) -> None:
    # A path whose parent is a file cannot be created, whoever we are.
    (tmp_path / "file").write_text("x")
    store = ResultsStore(tmp_path / "file" / "results.jsonl")
    err = store.append(rec("A", 1.0))
    assert err is not None and "could not save" in err
    assert len(store.unsaved) == 1


def test_summary_mean_and_sd_over_repeats_ignoring_failures() -> None:
    rs = [rec("A", 120.0), rec("A", 124.0), rec("A", None, ok=False, error="x"), rec("B", 45.0)]
    a, b = summarize(rs)
    assert (a.pattern, a.runs, a.failed) == ("A", 3, 1)
    assert a.decode_mean == pytest.approx(122.0)
    assert a.decode_sd == pytest.approx(2.8284271, rel=1e-6)
    assert b.decode_sd is None and b.tps_text() == "45.00"


def test_markdown_has_the_seed_table_shape() -> None:
    md = to_markdown([rec("A", 122.34), rec("A", 124.0), rec("B", 44.98, memory_pressure_peak="warn")])
    lines = md.splitlines()
    assert lines[0].startswith("| pattern | settings | tok/s |")
    assert lines[2].startswith("| A | ctx 4096, gpu 24 | 123.17 ± 1.17 |")
    assert lines[3].startswith("| B | ctx 4096, gpu 23 | 44.98 |") and lines[3].endswith("| warn |")


def test_csv_and_json_carry_every_contract_field() -> None:
    rs = [rec("A", 1.5, warnings=["w1", "w2"])]
    rows = list(csv.DictReader(io.StringIO(render(rs, "csv"))))
    assert set(CONTRACT_FIELDS) <= set(rows[0]) and rows[0]["decode_tps"] == "1.5" and rows[0]["warnings"] == "w1; w2"
    assert rows[0]["error"] == ""  # null, not "None"
    data = json.loads(render(rs, "json"))
    assert set(CONTRACT_FIELDS) <= set(data[0]) and data[0]["error"] is None


def test_table_is_aligned_text() -> None:
    out = render([rec("A", 1.0), rec("B-long-name", 22.5)], "table").splitlines()
    assert out[0].split() == ["pattern", "settings", "tok/s", "TTFT", "s", "runs", "source"]
    assert len({len(x) for x in out[:2]}) == 1


def test_a_tunes_warm_up_runs_are_stored_but_never_averaged() -> None:
    """tune stores its warm-up after each load with repeat 0; summaries, compare and the history skip it."""
    from backends.runs.charts import history_chart
    from backends.runs.compare import compare
    from backends.runs.record import RunRecord
    from backends.runs.results import summarize

    def rec(repeat: int, tps: float, day: str, version: str) -> RunRecord:
        return RunRecord(pattern="A", backend="ollama", url="http://127.0.0.1:11434", model="m", context_length=4096,
                         gpu_layers=24, repeat=repeat, started_at=f"2026-11-{day}T10:00:00+00:00", ok=True,
                         decode_tps=tps, server_version=version)  # fmt: skip

    runs = [rec(0, 5.0, "01", "0.11"), rec(1, 100.0, "01", "0.11"), rec(2, 102.0, "01", "0.11"),
            rec(0, 7.0, "02", "0.12"), rec(1, 90.0, "02", "0.12"), rec(2, 92.0, "02", "0.12")]  # fmt: skip
    [s1, s2] = summarize(runs[:3]), summarize(runs[3:])
    assert (s1[0].runs, s1[0].decode_mean) == (2, 101.0)
    assert (s2[0].runs, s2[0].decode_mean) == (2, 91.0)
    [change] = compare(runs, by="version")
    assert (change.before.runs, change.after.runs) == (2, 2)
    ys = [y for s in history_chart(runs).series for y in s.ys]
    assert sorted(ys) == [90.0, 92.0, 100.0, 102.0]
