"""`gptoss-top results --compare`: the change in decode tok/s between groups of stored runs, with its error."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.runs.compare import compare, render_compare
from backends.runs.record import RunRecord
from backends.runs.results import ResultsStore

REPO = Path(__file__).resolve().parent.parent.parent
DIGEST_OLD = "a" * 64
DIGEST_NEW = "b" * 64


def run(
    pattern: str,
    tps: float | None,
    *,
    day: str,
    version: str | None,
    backend: str = "ollama",
    digest: str | None = DIGEST_OLD,
    host: str | None = None,
    ctx: int = 4096,
    ok: bool = True,
    size: int | None = None,
    quant: str | None = None,
) -> RunRecord:
    return RunRecord(
        pattern=pattern, backend=backend, url="http://127.0.0.1:11434", model="gpt-oss:20b", context_length=ctx,
        gpu_layers=24, repeat=1, started_at=f"{day}T10:00:00Z", ok=ok, decode_tps=tps, stats_source="server",
        server_version=version, model_digest=digest, host=host, model_size_bytes=size, model_quant=quant,
    )  # fmt: skip


B_OLD = [97.0, 98.0, 96.9]  # Ollama 0.11.6, three runs
B_NEW = [89.0, 88.0, 90.5, 89.3]  # Ollama 0.12.3, four runs


def two_versions() -> list[RunRecord]:
    rs = [run("B", t, day="2026-06-01", version="0.11.6") for t in B_OLD]
    rs += [run("B", t, day="2026-06-20", version="0.12.3") for t in B_NEW]
    # Pattern C: the update came with a re-pulled model (another digest): flagged, not compared.
    rs += [run("C", t, day="2026-06-01", version="0.11.6") for t in (40.0, 41.0)]
    rs += [run("C", t, day="2026-06-20", version="0.12.3", digest=DIGEST_NEW) for t in (52.0, 53.0)]
    return rs


def welch(a: list[float], b: list[float]) -> tuple[float, float]:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    return mb - ma, math.sqrt(va / len(a) + vb / len(b))


def test_two_server_versions_give_the_change_and_its_error() -> None:
    [b, c] = compare(two_versions(), by="version")
    delta, err = welch(B_OLD, B_NEW)
    assert (b.pattern, b.before.key, b.after.key) == ("B", "ollama 0.11.6", "ollama 0.12.3")
    assert (b.before.runs, b.after.runs) == (3, 4)
    assert b.delta == pytest.approx(delta) and b.stderr == pytest.approx(err)
    assert b.significant and b.flag is None
    # The text a person reads: the example of the shape.
    text = render_compare([b], "version")
    assert text == f"B: ollama 0.11.6 → 0.12.3  −{abs(delta):.1f} ± {err:.1f} tok/s (97.3 → 89.2), 3 vs 4 runs\n"
    assert c.pattern == "C" and c.delta is None
    assert c.flag == f"model differs: digest {DIGEST_OLD[:12]} → digest {DIGEST_NEW[:12]}"
    assert "not compared — model differs" in render_compare([c], "version")


def test_by_day_and_by_host_and_the_pattern_filter() -> None:
    rs = [*two_versions(), run("B", 70.0, day="2026-06-20", version="0.12.3", host="macmini")]
    [b_day] = compare(rs, by="day", patterns=["B"])
    assert (b_day.before.key, b_day.after.key) == ("2026-06-01", "2026-06-20")
    assert b_day.after.runs == 5
    [b_host] = compare(rs, by="host", patterns=["B"])
    assert (b_host.before.key, b_host.after.key) == ("local", "macmini")
    assert b_host.stderr is None and b_host.note == "a single run has no spread"


def test_without_a_digest_size_and_quant_say_which_model() -> None:
    rs = [run("A", 30.0, day="2026-06-01", version="b6097", backend="llamacpp", digest=None, size=12_109_566_720,
              quant="MXFP4 MoE")] * 2  # fmt: skip
    rs += [run("A", 31.0, day="2026-06-02", version="b7010", backend="llamacpp", digest=None, size=11_000_000_000,
               quant="Q4_K_M")] * 2  # fmt: skip
    [a] = compare(rs)
    assert a.flag == "model differs: 11.28 GiB MXFP4 MoE → 10.24 GiB Q4_K_M"


def test_groups_are_compared_in_time_order_and_failures_do_not_count() -> None:
    rs = [run("A", 50.0, day="2026-06-03", version="0.12.3"), run("A", 50.0, day="2026-06-03", version="0.12.3"),
          run("A", None, day="2026-06-03", version="0.12.3", ok=False),
          run("A", 60.0, day="2026-06-01", version="0.11.6"), run("A", 62.0, day="2026-06-01", version="0.11.6")]  # fmt: skip
    [a] = compare(rs)
    assert (a.before.key, a.after.key) == ("ollama 0.11.6", "ollama 0.12.3")
    assert a.after.runs == 2 and a.delta == pytest.approx(-11.0)
    assert a.stderr == pytest.approx(1.0)  # sd 0 and sd 1.414: sqrt(0/2 + 2/2)


def test_other_settings_and_unknown_versions_are_kept_apart() -> None:
    rs = [run("A", 50.0, day="2026-06-01", version=None), run("A", 55.0, day="2026-06-02", version="0.12.3", ctx=8192)]
    [a] = compare(rs)
    assert a.before.key == "ollama (version unknown)"
    assert a.flag == "settings differ: ctx 4096, gpu 24 → ctx 8192, gpu 24"


def test_cli_compare_on_a_results_file(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    for r in two_versions():
        assert store.append(r) is None
    env = {**os.environ, "GPTOSS_TOP_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "tui", "results", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO, env=env)

    out = cli("--compare")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("B: ollama 0.11.6 → 0.12.3  −8.1 ± ")
    assert lines[0].endswith("tok/s (97.3 → 89.2), 3 vs 4 runs")
    assert lines[1].startswith("C: ollama 0.11.6 → 0.12.3  not compared — model differs")
    out = cli("--compare", "--by", "day", "--pattern", "C", "--format", "json")
    [row] = json.loads(out.stdout)
    assert row["pattern"] == "C" and row["before"]["key"] == "2026-06-01" and row["delta"] is None
    out = cli("--compare", "--format", "csv")
    assert out.returncode == 2 and "not csv" in out.stderr and "Traceback" not in out.stderr
    one = tmp_path / "one"
    one.mkdir()
    ResultsStore(one / "results.jsonl").append(run("A", 10.0, day="2026-06-01", version="0.12.3"))
    out = subprocess.run([sys.executable, "-m", "tui", "results", "--compare"], capture_output=True, text=True,
                         timeout=60, cwd=REPO, env={**env, "GPTOSS_TOP_DATA_DIR": str(one)})  # fmt: skip
    assert out.returncode == 0 and out.stdout == "" and "nothing to compare" in out.stderr
