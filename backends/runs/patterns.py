"""Pattern files: TOML read with tomllib, validated with file:line:key messages, written with tomli-w.

[defaults]            # every pattern inherits these
backend = "lmstudio"
model = "openai/gpt-oss-20b"
prompt = "..."        # or prompt_file = "prompt.txt" (relative to the pattern file)

[[patterns]]
name = "A"
context_length = 4096
gpu_layers = 24       # integer, or "max" / "off"
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from backends.base import BackendKind, GpuLayers, ReasoningEffort, is_backend_kind, is_reasoning_effort
from backends.probes.remote.source import SourceError, parse_source
from backends.runs.pattern_check import (
    HOST_KEYS,
    TOP_LEVEL,
    Entry,
    Locator,
    PatternError,
    Problem,
    ProblemSink,
    backend_and_url,
    check_keys,
    check_limits,
    model_of,
    prompt_of,
    suggest,
    typename,
    wrong_type,
)
from backends.servers.registry import traits

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_PROMPT",
    "HostSpec",
    "Pattern",
    "PatternError",
    "PatternFile",
    "Problem",
    "load_patterns",
    "parse_patterns",
    "pattern_to_dict",
    "settings_text",
    "write_patterns",
]

DEFAULT_PROMPT = "Explain in three sentences why the sky is blue."
DEFAULT_MAX_TOKENS = 2048


def settings_text(context_length: int | None, gpu_layers: GpuLayers | None, n_cpu_moe: int | str | None = None) -> str:
    """The seed table's "settings" column: context and offload in words."""
    parts = []
    if context_length:
        parts.append(f"ctx {context_length}")
    if gpu_layers is not None:
        parts.append(f"gpu {gpu_layers}")
    if n_cpu_moe:
        parts.append(f"cpu-moe {n_cpu_moe}")
    return ", ".join(parts) or "server defaults"


@dataclass(frozen=True)
class Pattern:
    name: str
    backend: BackendKind
    url: str
    model: str
    prompt: str
    description: str = ""
    system_prompt: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    reasoning_effort: ReasoningEffort | None = None
    temperature: float | None = None
    seed: int | None = None
    context_length: int | None = None
    gpu_layers: GpuLayers | None = None
    model_path: str | None = None  # llama.cpp managed mode: GGUF file, or builtin:NAME
    server_bin: str | None = None
    api_key_env: str | None = None  # name of the environment variable that holds the key
    timeout_s: float = 600.0
    first_token_timeout_s: float | None = None
    repeat: int = 1
    n_cpu_moe: int | str | None = None  # first N blocks keep their expert weights in host memory; "all"
    host: str | None = None  # a [hosts.NAME] of the file whose hardware runs this pattern; None: this machine
    server_stats: str | None = None  # "exo-bench": an openai pattern asks exo's /bench/chat/completions
    source: str = ""  # "file:line" where the pattern was defined

    def settings(self) -> str:
        return settings_text(self.context_length, self.gpu_layers, self.n_cpu_moe)

    def api_key(self) -> str | None:
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        if default := traits(self.backend).api_key_env:
            return os.environ.get(default) or None
        return None


@dataclass(frozen=True)
class HostSpec:
    """A `[hosts.NAME]` table: a machine that runs patterns, and where its hardware figures come from."""

    name: str
    telemetry: str  # local | agent+http://… | node-exporter+http://… | macmon+http://… | exo+http://… | ssh://…
    description: str = ""
    source: str = ""


@dataclass
class PatternFile:
    path: str
    patterns: list[Pattern]
    defaults: dict[str, Any] = field(default_factory=dict)
    hosts: dict[str, HostSpec] = field(default_factory=dict)

    def select(self, names: list[str]) -> list[Pattern]:
        """Patterns by name, in the order given; unknown names are a PatternError."""
        by_name = {p.name: p for p in self.patterns}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise PatternError(
                [
                    Problem(self.path, None, None, f"no pattern named {n!r}; the file has {', '.join(by_name)}")
                    for n in missing
                ]
            )
        return [by_name[n] for n in names]


def load_patterns(path: str | os.PathLike[str]) -> PatternFile:
    """Read and validate a pattern file. Raises PatternError with file:line for every problem."""
    p = Path(path)
    shown = str(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PatternError(
            [
                Problem(
                    shown, None, None, "file not found — check the path, or run `gptoss-top init` to write an example"
                )
            ]
        ) from None
    except OSError as e:
        msg = f"cannot read the file: {e.strerror or e} — check that it is a file you may read"
        raise PatternError([Problem(shown, None, None, msg)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PatternError([Problem(shown, line, None, "the file is not valid UTF-8")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        err_line = int(m.group(1)) if m else None
        col = f", column {m.group(2)}" if m else ""
        raise PatternError([Problem(shown, err_line, None, f"TOML syntax error{col}: {msg}")]) from None
    return parse_patterns(data, shown, Locator(text, shown), base_dir=p.parent)


def parse_patterns(
    data: Mapping[str, Any], source: str, locator: Locator | None = None, base_dir: Path | None = None
) -> PatternFile:
    """Validate a parsed pattern file. Raises PatternError listing every problem, each with its line."""
    loc = locator or Locator("", source)
    problems: list[Problem] = []

    def problem(table: str, idx: int | None, key: str | None, msg: str) -> None:
        problems.append(Problem(source, loc.line(table, idx, key), key, msg))

    for key in data:
        if key not in TOP_LEVEL:
            hint = "a pattern file has [defaults] and [[patterns]]"
            problem(key, None, None, f"unknown section [{key}]{suggest(key, TOP_LEVEL)}; {hint}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problem("defaults", None, None, "[defaults] must be a table")
        defaults = {}
    check_keys(defaults, "defaults", None, "[defaults]", problem, allow_name=False)
    hosts = _parse_hosts(data.get("hosts", {}), loc, problem)
    raw_patterns = data.get("patterns", [])
    if not isinstance(raw_patterns, list) or not all(isinstance(x, dict) for x in raw_patterns):
        problem("patterns", None, None, "patterns must be written as [[patterns]] tables")
        raw_patterns = []
    if not raw_patterns:
        problems.append(Problem(source, None, None, "no [[patterns]] in the file — add at least one"))
    patterns = _parse_entries(raw_patterns, defaults, hosts, loc, base_dir or Path.cwd(), problem)
    if problems:
        raise PatternError(problems)
    return PatternFile(source, patterns, dict(defaults), hosts)


def _parse_entries(
    raw: list[dict[str, Any]],
    defaults: Mapping[str, Any],
    hosts: Mapping[str, HostSpec],
    loc: Locator,
    base: Path,
    problem: ProblemSink,
) -> list[Pattern]:
    """Each [[patterns]] table: a unique name, known keys, valid values, a host the file declares."""
    patterns: list[Pattern] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(raw):
        label = f"pattern #{i + 1}"
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            problem("patterns", i, "name", f'{label} has no name: add name = "..."')
            name = f"#{i + 1}"
        else:
            label = f"pattern {name!r}"
            if name in seen:
                first = f"first used by pattern #{seen[name] + 1}"
                problem("patterns", i, "name", f"duplicate pattern name {name!r} ({first}); names must be unique")
            seen.setdefault(name, i)
        check_keys(table, "patterns", i, label, problem, allow_name=True)
        entry = Entry(defaults, table, i, label, problem)
        pat = _build(entry, name, base, loc)
        if pat is not None and pat.host is not None and pat.host not in hosts:
            known = f"; the file has {', '.join(hosts)}" if hosts else ""
            entry.bad("host", f"host {pat.host!r} in {label} is not a [hosts.NAME] table of this file{known}"
                      f"{suggest(pat.host, hosts)}")  # fmt: skip
        if pat is not None:
            patterns.append(pat)
    return patterns


def _parse_hosts(raw: object, loc: Locator, problem: ProblemSink) -> dict[str, HostSpec]:
    """`[hosts.NAME]` tables, each with `telemetry = "<source>"` (see README "Remote hosts")."""
    if not isinstance(raw, dict):
        problem("hosts", None, None, "hosts must be written as [hosts.NAME] tables")
        return {}
    hosts: dict[str, HostSpec] = {}
    for name, table in raw.items():
        tname = f"hosts.{name}"
        if not isinstance(table, dict):
            problem(tname, None, None, f'[hosts.{name}] must be a table with telemetry = "..."')
            continue
        for key, value in table.items():
            if key not in HOST_KEYS:
                problem(tname, None, key, f"unknown key {key!r} in [hosts.{name}]{suggest(key, HOST_KEYS)}; "
                        "a host has telemetry and description")  # fmt: skip
            elif not isinstance(value, str):
                problem(tname, None, key, f"{key} in [hosts.{name}] must be a string, not {typename(value)}")
        telemetry = table.get("telemetry")
        if not isinstance(telemetry, str) or not telemetry.strip():
            problem(tname, None, "telemetry", f'[hosts.{name}] has no telemetry: add telemetry = "local", '
                    '"agent+http://HOST:9464", "ssh://USER@HOST", ...')  # fmt: skip
            continue
        try:
            parse_source(telemetry)
        except SourceError as e:
            problem(tname, None, "telemetry", f"[hosts.{name}] {e}")
        desc = table.get("description")
        hosts[name] = HostSpec(name, telemetry.strip(), desc if isinstance(desc, str) else "",
                               loc.where(loc.line(tname, None, None)))  # fmt: skip
    return hosts


def _build(e: Entry, name: str, base: Path, loc: Locator) -> Pattern | None:
    """One pattern from its own keys over [defaults]; None when any of them is wrong (and reported)."""
    backend, url = backend_and_url(e)
    model, model_path = model_of(e)
    prompt = prompt_of(e, base)
    effort = e.text("reasoning_effort")
    check_limits(e)
    # A key of the wrong type was reported by check_keys; the pattern is not built either way.
    if e.failed or wrong_type(e.merged):
        return None
    if not is_backend_kind(backend) or not (effort is None or is_reasoning_effort(effort)):
        return None  # reported by backend_and_url / check_limits
    temperature = e.number("temperature")
    first_token = e.number("first_token_timeout_s")
    return Pattern(
        name=name,
        backend=backend,
        url=url.rstrip("/"),
        model=model or "",
        prompt=prompt if prompt is not None else DEFAULT_PROMPT,
        description=e.text("description") or "",
        system_prompt=e.text("system_prompt"),
        max_tokens=e.integer("max_tokens") or DEFAULT_MAX_TOKENS,
        reasoning_effort=effort,
        temperature=float(temperature) if temperature is not None else None,
        seed=e.integer("seed"),
        context_length=e.integer("context_length") or None,
        gpu_layers=e.get("gpu_layers", (int, str)),
        model_path=model_path,
        server_bin=e.text("server_bin"),
        api_key_env=e.text("api_key_env"),
        timeout_s=float(e.number("timeout_s") or 600.0),
        first_token_timeout_s=float(first_token) if first_token else None,
        repeat=e.integer("repeat") or 1,
        n_cpu_moe=e.get("n_cpu_moe", (int, str)),
        host=e.text("host"),
        server_stats=e.text("server_stats"),
        source=loc.where(loc.line("patterns", e.idx)),
    )


def pattern_to_dict(p: Pattern) -> dict[str, Any]:
    """A pattern as a [[patterns]] table, leaving out defaults and internal fields."""
    out: dict[str, Any] = {"name": p.name}
    for f in fields(Pattern):
        if f.name in ("name", "source"):
            continue
        v = getattr(p, f.name)
        if v is None or v == f.default:
            continue
        out[f.name] = v
    return out


def write_patterns(
    path: str | os.PathLike[str], patterns: list[Pattern], defaults: dict[str, Any] | None = None
) -> None:
    doc: dict[str, Any] = {}
    if defaults:
        doc["defaults"] = defaults
    doc["patterns"] = [pattern_to_dict(p) for p in patterns]
    Path(path).write_text(tomli_w.dumps(doc), encoding="utf-8")
