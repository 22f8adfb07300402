"""Compare stored runs across days, server versions or hosts: did the update make it slower?

Per pattern, runs are grouped (by UTC day, by backend and server version, or by host), the groups are
put in time order, and each group is compared with the one before it: the change in mean decode tok/s
with its standard error, sqrt(s1²/n1 + s2²/n2) (Welch's; a group of one run has no spread, so then
no ± is given). Groups whose model differs — another digest, or another file size or quantization
where there is no digest — or whose settings differ are flagged instead of compared: a figure from
another model file says nothing about the server.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from backends.runs.record import RunRecord
from backends.runs.results import settings_of
from backends.units import gib

By = Literal["day", "version", "host"]
BY: tuple[By, ...] = ("day", "version", "host")
MINUS = "−"


def model_identity(r: RunRecord) -> str | None:
    """What says which model file produced a run: its digest, else its size and quantization."""
    if r.model_digest:
        return f"digest {r.model_digest[:12]}"
    parts = []
    if r.model_size_bytes is not None:
        parts.append(gib(r.model_size_bytes, 2))
    if r.model_quant:
        parts.append(r.model_quant)
    return " ".join(parts) or None


def group_key(r: RunRecord, by: By) -> str:
    if by == "day":
        return r.started_at[:10]
    if by == "host":
        return r.host or "local"
    return f"{r.backend} {r.server_version or '(version unknown)'}"


@dataclass(frozen=True)
class Group:
    key: str
    runs: int  # successful runs with a decode figure
    mean: float | None
    sd: float | None
    first_at: str
    models: tuple[str, ...]  # distinct model identities; empty when none was recorded
    settings: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    pattern: str
    before: Group
    after: Group
    delta: float | None  # after − before, tok/s; None when not compared
    stderr: float | None
    flag: str | None  # why the two are not compared
    note: str | None  # compared, but read with care

    @property
    def significant(self) -> bool:
        """The change is more than twice its standard error (about 95 % for normal noise)."""
        return self.delta is not None and self.stderr is not None and abs(self.delta) > 2 * self.stderr


def _group(key: str, rs: Sequence[RunRecord]) -> Group:
    tps = [r.decode_tps for r in rs if r.ok and r.decode_tps is not None]
    models = sorted({m for r in rs if r.ok and (m := model_identity(r)) is not None})
    return Group(
        key=key,
        runs=len(tps),
        mean=statistics.fmean(tps) if tps else None,
        sd=statistics.stdev(tps) if len(tps) > 1 else None,
        first_at=min(r.started_at for r in rs),
        models=tuple(models),
        settings=tuple(sorted({settings_of(r) for r in rs})),
    )


def _flag(a: Group, b: Group) -> str | None:
    if len(a.models) > 1 or len(b.models) > 1:
        mixed = a if len(a.models) > 1 else b
        return f"{mixed.key} mixes models ({', '.join(mixed.models)})"
    if a.models and b.models and a.models != b.models:
        return f"model differs: {a.models[0]} → {b.models[0]}"
    if a.settings != b.settings:
        return f"settings differ: {'; '.join(a.settings)} → {'; '.join(b.settings)}"
    if a.mean is None or b.mean is None:
        return "no successful run in " + (a.key if a.mean is None else b.key)
    return None


def _change(pattern: str, a: Group, b: Group) -> Change:
    flag = _flag(a, b)
    if flag is not None:
        return Change(pattern, a, b, None, None, flag, None)
    assert a.mean is not None and b.mean is not None
    stderr = None
    if a.sd is not None and b.sd is not None:
        stderr = math.sqrt(a.sd**2 / a.runs + b.sd**2 / b.runs)
    note = None
    if not (a.models and b.models):
        note = "model not recorded on one side"
    elif stderr is None:
        note = "a single run has no spread"
    return Change(pattern, a, b, b.mean - a.mean, stderr, None, note)


def compare(records: Iterable[RunRecord], by: By = "version", patterns: Sequence[str] = ()) -> list[Change]:
    """Each pattern's groups in time order, each compared with the one before it."""
    per: dict[str, dict[str, list[RunRecord]]] = {}
    for r in records:
        if r.warmup or (patterns and r.pattern not in patterns):
            continue
        per.setdefault(r.pattern, {}).setdefault(group_key(r, by), []).append(r)
    out: list[Change] = []
    for pattern, groups in per.items():
        ordered = sorted((_group(k, rs) for k, rs in groups.items()), key=lambda g: g.first_at)
        out += [_change(pattern, a, b) for a, b in itertools.pairwise(ordered)]
    return out


def _labels(c: Change, by: By) -> tuple[str, str]:
    a, b = c.before.key, c.after.key
    if by == "version":
        ba, _, _va = a.partition(" ")
        bb, _, vb = b.partition(" ")
        if ba == bb:
            return a, vb
    return a, b


def _tps(g: Group) -> str:
    return "—" if g.mean is None else f"{g.mean:.1f}"


def change_text(c: Change, by: By) -> str:
    """ "B: ollama 0.11.6 → 0.12.3  −8.1 ± 2.0 tok/s (97.3 → 89.2), 3 vs 4 runs" """
    left, right = _labels(c, by)
    head = f"{c.pattern}: {left} → {right}"
    if c.delta is None:
        return f"{head}  not compared — {c.flag}"
    sign = MINUS if c.delta < 0 else "+"
    err = "" if c.stderr is None else f" ± {c.stderr:.1f}"
    text = (f"{head}  {sign}{abs(c.delta):.1f}{err} tok/s ({_tps(c.before)} → {_tps(c.after)}), "
            f"{c.before.runs} vs {c.after.runs} runs")  # fmt: skip
    if c.stderr is not None and not c.significant:
        text += " — within the noise"
    if c.note:
        text += f" [{c.note}]"
    return text


def render_compare(changes: Sequence[Change], by: By, fmt: str = "table") -> str:
    if fmt == "json":
        rows = [{**asdict(c), "significant": c.significant} for c in changes]
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    lines = [change_text(c, by) for c in changes]
    if fmt == "markdown":
        return "".join(f"- {line}\n" for line in lines)
    return "".join(f"{line}\n" for line in lines)
