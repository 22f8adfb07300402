"""The results store (JSONL, one record per line, appended and fsynced as each run finishes) and
the exports: markdown in the seed's table shape, csv, json and a plain terminal table."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.paths import data_dir
from backends.runs.formats import FORMATS
from backends.runs.patterns import settings_text
from backends.runs.record import CONTRACT_FIELDS, RunRecord
from backends.units import gib

__all__ = ["FORMATS", "ResultsStore", "export", "load_records", "render", "summarize"]


class ResultsStore:
    """Append-only JSONL file. A failed write never loses the record: it stays in `unsaved`."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / "results.jsonl"
        self.unsaved: list[RunRecord] = []
        self.last_error: str | None = None

    def append(self, record: RunRecord) -> str | None:
        """Write one record durably. Returns None, or a message saying why it could not be saved."""
        line = json.dumps(record.to_dict(), ensure_ascii=False, allow_nan=False, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    data = line.encode("utf-8")
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(28, "short write (disk full?)")
                    os.fsync(fd)
                except OSError:
                    # A torn half line would swallow the next record appended after it.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
        except (OSError, ValueError) as e:
            self.unsaved.append(record)
            reason = getattr(e, "strerror", None) or str(e)
            self.last_error = (
                f"could not save the result to {self.path}: {reason} — the run is kept in memory and printed; "
                "free disk space or set GPTOSS_TOP_DATA_DIR to a writable folder"
            )
            return self.last_error
        return None

    def load(self) -> list[RunRecord]:
        return load_records(self.path)


def load_records(path: str | os.PathLike[str]) -> list[RunRecord]:
    """Every well-formed record in a JSONL file; a torn last line (a crash mid-write) is skipped."""
    out: list[RunRecord] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if isinstance(d, dict) and "pattern" in d:
                    out.append(RunRecord.from_dict(d))
    except FileNotFoundError:
        return []
    return out


@dataclass(frozen=True)
class Summary:
    pattern: str
    settings: str
    runs: int
    failed: int
    decode_mean: float | None
    decode_sd: float | None
    ttft_mean: float | None
    prompt_tps_mean: float | None
    peak_vram_bytes: int | None
    memory_pressure_peak: str | None
    stats_source: str | None
    host: str | None = None  # the [hosts.NAME] the runs were on (README "Remote hosts")
    peak_ram_used_bytes: int | None = None  # that machine's memory in use at its peak

    def tps_text(self) -> str:
        if self.decode_mean is None:
            return "—"
        if self.decode_sd is not None:
            return f"{self.decode_mean:.2f} ± {self.decode_sd:.2f}"
        return f"{self.decode_mean:.2f}"


_PRESSURE = {"normal": 0, "warn": 1, "critical": 2}


def settings_of(r: RunRecord) -> str:
    return settings_text(r.context_length, r.gpu_layers, r.n_cpu_moe)  # type: ignore[arg-type]


def summarize(records: Iterable[RunRecord]) -> list[Summary]:
    """Group by pattern and settings, in first-seen order; mean ± sd over the runs that worked."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        if not r.warmup:
            groups.setdefault((r.pattern, settings_of(r)), []).append(r)
    out = []
    for (name, settings), rs in groups.items():
        ok = [r for r in rs if r.ok]
        tps = [r.decode_tps for r in ok if r.decode_tps is not None]
        ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
        ptps = [r.prompt_tps for r in ok if r.prompt_tps is not None]
        vram = [r.peak_vram_bytes for r in rs if r.peak_vram_bytes is not None]
        press = [r.memory_pressure_peak for r in rs if r.memory_pressure_peak in _PRESSURE]
        sources = {r.stats_source for r in ok if r.stats_source}
        ram = [r.peak_ram_used_bytes for r in rs if r.peak_ram_used_bytes is not None]
        out.append(
            Summary(
                pattern=name,
                settings=settings,
                runs=len(rs),
                failed=len(rs) - len(ok),
                decode_mean=statistics.fmean(tps) if tps else None,
                decode_sd=statistics.stdev(tps) if len(tps) > 1 else None,
                ttft_mean=statistics.fmean(ttft) if ttft else None,
                prompt_tps_mean=statistics.fmean(ptps) if ptps else None,
                peak_vram_bytes=max(vram) if vram else None,
                memory_pressure_peak=max(press, key=lambda p: _PRESSURE[p or "normal"]) if press else None,
                stats_source="/".join(sorted(sources)) or None,
                host=rs[0].host,
                peak_ram_used_bytes=max(ram) if ram else None,
            )
        )
    return out


def _runs(s: Summary) -> str:
    return f"{s.runs - s.failed}/{s.runs}" if s.failed else str(s.runs)


def to_markdown(records: Iterable[RunRecord]) -> str:
    """The seed's table: pattern | settings | tok/s, plus TTFT, runs, peak VRAM and pressure."""
    summaries = summarize(records)
    # Runs on the hosts of a two-machine file: each row also says whose memory its figures are.
    hosts = any(s.host for s in summaries)
    rows = [
        "| pattern | settings | tok/s | TTFT (s) | runs | peak VRAM | pressure |" + (" host | peak RAM |" * hosts),
        "|---|---|---:|---:|---:|---:|---|" + ("---|---:|" * hosts),
    ]
    for s in summaries:
        ttft = "—" if s.ttft_mean is None else f"{s.ttft_mean:.2f}"
        rows.append(
            f"| {_md(s.pattern)} | {_md(s.settings)} | {s.tps_text()} | {ttft} | {_runs(s)} | "
            f"{gib(s.peak_vram_bytes)} | {s.memory_pressure_peak or '—'} |"
            + (f" {_md(s.host or 'this machine')} | {gib(s.peak_ram_used_bytes)} |" if hosts else "")
        )
    return "\n".join(rows) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_table(records: Iterable[RunRecord]) -> str:
    """A plain aligned table for a terminal."""
    head = ("pattern", "settings", "tok/s", "TTFT s", "runs", "source")
    rows = [head]
    for s in summarize(records):
        ttft = "—" if s.ttft_mean is None else f"{s.ttft_mean:.2f}"
        rows.append((s.pattern, s.settings, s.tps_text(), ttft, _runs(s), s.stats_source or "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def to_json(records: Iterable[RunRecord]) -> str:
    return json.dumps([r.to_dict() for r in records], ensure_ascii=False, indent=2, default=str) + "\n"


def to_csv(records: Iterable[RunRecord]) -> str:
    rs = list(records)
    names = list(CONTRACT_FIELDS) + [f for f in RunRecord.__dataclass_fields__ if f not in CONTRACT_FIELDS]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    w.writeheader()
    for r in rs:
        d: dict[str, Any] = r.to_dict()
        d["warnings"] = "; ".join(d.get("warnings") or [])
        w.writerow({k: ("" if d.get(k) is None else d.get(k)) for k in names})
    return buf.getvalue()


def render(records: Iterable[RunRecord], fmt: str) -> str:
    rs = list(records)
    return {"table": to_table, "markdown": to_markdown, "csv": to_csv, "json": to_json}[fmt](rs)


def export(records: Iterable[RunRecord], fmt: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Write an export file next to the store (or into `directory`); returns its path. `fmt` is one of
    FORMATS, or "svg" for the chart of decode tok/s per pattern."""
    from backends.runs.session import now_iso

    ext = {"markdown": "md", "csv": "csv", "json": "json", "table": "txt", "svg": "svg"}[fmt]
    d = Path(directory) if directory is not None else data_dir() / "exports"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"gptoss-top-{now_iso().replace(':', '')}.{ext}"
    if fmt == "svg":  # the results chart, drawn from the same summary as the table, for a blog post
        from backends.runs.charts import results_chart, to_svg

        text = to_svg(results_chart(records))
    else:
        text = render(records, fmt)
    path.write_text(text, encoding="utf-8")
    return path
