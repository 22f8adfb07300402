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

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from backends.base import BACKEND_KINDS, REASONING_EFFORTS, GpuLayers
from backends.servers.registry import default_url
from backends.servers.tinymodel import BUILTIN_PREFIX, SHAPES

DEFAULT_PROMPT = "Explain in three sentences why the sky is blue."
DEFAULT_MAX_TOKENS = 2048


def settings_text(context_length: int | None, gpu_layers: GpuLayers | None) -> str:
    """The seed table's "settings" column: context and offload in words."""
    parts = []
    if context_length:
        parts.append(f"ctx {context_length}")
    if gpu_layers is not None:
        parts.append(f"gpu {gpu_layers}")
    return ", ".join(parts) or "server defaults"


@dataclass(frozen=True)
class Pattern:
    name: str
    backend: str
    url: str
    model: str
    prompt: str
    description: str = ""
    system_prompt: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    reasoning_effort: str | None = None
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
    source: str = ""  # "file:line" where the pattern was defined
    _order: int = field(default=0, compare=False, repr=False)

    def settings(self) -> str:
        return settings_text(self.context_length, self.gpu_layers)

    def api_key(self) -> str | None:
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        if self.backend == "lmstudio":
            return os.environ.get("LM_API_TOKEN") or None
        return None


# key → (types accepted, description of the type for messages)
_STR = ((str,), "a string")
_INT = ((int,), "an integer")
_NUM = ((int, float), "a number")
KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "backend": _STR,
    "url": _STR,
    "model": _STR,
    "prompt": _STR,
    "prompt_file": _STR,
    "description": _STR,
    "system_prompt": _STR,
    "max_tokens": _INT,
    "reasoning_effort": _STR,
    "temperature": _NUM,
    "seed": _INT,
    "context_length": _INT,
    "gpu_layers": ((int, str), 'an integer, "max" or "off"'),
    "model_path": _STR,
    "server_bin": _STR,
    "api_key_env": _STR,
    "timeout_s": _NUM,
    "first_token_timeout_s": _NUM,
    "repeat": _INT,
    "n_cpu_moe": ((int, str), 'an integer or "all"'),
    "host": _STR,
}
PATTERN_ONLY = {"name"}
TOP_LEVEL = {"defaults", "patterns", "hosts"}
HOST_KEYS = {"telemetry", "description"}


@dataclass(frozen=True)
class HostSpec:
    """A `[hosts.NAME]` table: a machine that runs patterns, and where its hardware figures come from."""

    name: str
    telemetry: str  # local | agent+http://… | node-exporter+http://… | macmon+http://… | exo+http://… | ssh://…
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class PatternError(Exception):
    """One or more problems in a pattern file; str() lists them, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


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


class _Locator:
    """Find the line of a key in the source text: tomllib does not report positions."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"']+)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')\s*=")

    def __init__(self, text: str, source: str = "") -> None:
        self.source = source
        self.lines: dict[tuple[str, int | None, str | None], int] = {}
        table: tuple[str, int | None] = ("", None)
        counts: dict[str, int] = {}
        for no, raw in enumerate(text.splitlines(), start=1):
            if m := self._HEADER.match(raw):
                name = m.group(2).strip("\"'")
                idx = None
                if m.group(1) == "[[":
                    idx = counts.get(name, 0)
                    counts[name] = idx + 1
                table = (name, idx)
                self.lines.setdefault((name, idx, None), no)
            elif m := self._KEY.match(raw):
                self.lines.setdefault((table[0], table[1], m.group(1).strip("\"'")), no)

    def line(self, table: str, idx: int | None = None, key: str | None = None) -> int | None:
        return self.lines.get((table, idx, key)) or self.lines.get((table, idx, None))


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
    return parse_patterns(data, shown, _Locator(text, shown), base_dir=p.parent)


def parse_patterns(
    data: Mapping[str, Any], source: str, locator: _Locator | None = None, base_dir: Path | None = None
) -> PatternFile:
    loc = locator or _Locator("", source)
    base = base_dir or Path.cwd()
    problems: list[Problem] = []

    def problem(table: str, idx: int | None, key: str | None, msg: str) -> None:
        problems.append(Problem(source, loc.line(table, idx, key), key, msg))

    for key in data:
        if key not in TOP_LEVEL:
            problem(
                key,
                None,
                None,
                f"unknown section [{key}]{_suggest(key, TOP_LEVEL)}; a pattern file has [defaults] and [[patterns]]",
            )
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problem("defaults", None, None, "[defaults] must be a table")
        defaults = {}
    _check_keys(defaults, "defaults", None, "[defaults]", problem, allow_name=False)

    hosts = _parse_hosts(data.get("hosts", {}), source, loc, problem)
    raw_patterns = data.get("patterns", [])
    if not isinstance(raw_patterns, list) or not all(isinstance(x, dict) for x in raw_patterns):
        problem("patterns", None, None, "patterns must be written as [[patterns]] tables")
        raw_patterns = []
    if not raw_patterns:
        problems.append(Problem(source, None, None, "no [[patterns]] in the file — add at least one"))

    patterns: list[Pattern] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw_patterns):
        label = f"pattern #{i + 1}"
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            problem("patterns", i, "name", f'{label} has no name: add name = "..."')
            name = f"#{i + 1}"
        else:
            label = f"pattern {name!r}"
            if name in seen:
                problem(
                    "patterns",
                    i,
                    "name",
                    f"duplicate pattern name {name!r} (first used by pattern #{seen[name] + 1}); names must be unique",
                )
            seen.setdefault(name, i)
        _check_keys(entry, "patterns", i, label, problem, allow_name=True)
        pat = _build(defaults, entry, name, i, label, loc, base, problem)
        if pat is not None and pat.host is not None and pat.host not in hosts:
            where = "patterns" if "host" in entry else "defaults"
            known = f"; the file has {', '.join(hosts)}" if hosts else ""
            problem(where, i if where == "patterns" else None, "host",
                    f"host {pat.host!r} in {label} is not a [hosts.NAME] table of this file{known}"
                    f"{_suggest(pat.host, hosts)}")  # fmt: skip
        if pat is not None:
            patterns.append(pat)
    if problems:
        raise PatternError(problems)
    return PatternFile(source, patterns, dict(defaults), hosts)


def _parse_hosts(raw: Any, source: str, loc: _Locator, problem: Any) -> dict[str, HostSpec]:
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
                problem(tname, None, key, f"unknown key {key!r} in [hosts.{name}]{_suggest(key, HOST_KEYS)}; "
                        "a host has telemetry and description")  # fmt: skip
            elif not isinstance(value, str):
                problem(tname, None, key, f"{key} in [hosts.{name}] must be a string, not {_typename(value)}")
        telemetry = table.get("telemetry")
        if not isinstance(telemetry, str) or not telemetry.strip():
            problem(tname, None, "telemetry", f'[hosts.{name}] has no telemetry: add telemetry = "local", '
                    '"agent+http://HOST:9464", "ssh://USER@HOST", ...')  # fmt: skip
            continue
        line = loc.line(tname, None, None)
        desc = table.get("description")
        hosts[name] = HostSpec(name, telemetry.strip(), desc if isinstance(desc, str) else "",
                               f"{source}:{line}" if line else source)  # fmt: skip
    return hosts


def _check_keys(
    table: Mapping[str, Any], tname: str, idx: int | None, label: str, problem: Any, *, allow_name: bool
) -> None:
    allowed = set(KEYS) | (PATTERN_ONLY if allow_name else set())
    for key, value in table.items():
        if key not in allowed:
            problem(tname, idx, key, f"unknown key {key!r} in {label}{_suggest(key, allowed)}")
            continue
        if key == "name":
            continue
        types, desc = KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            problem(tname, idx, key, f"{key} in {label} must be {desc}, not {_typename(value)} ({value!r})")


def _build(
    defaults: Mapping[str, Any],
    entry: Mapping[str, Any],
    name: str,
    idx: int,
    label: str,
    loc: _Locator,
    base: Path,
    problem: Any,
) -> Pattern | None:
    """One pattern from its own keys over [defaults]; problems point at the line that set the key."""
    m = {**defaults, **entry}
    failed = False

    def bad(key: str, msg: str) -> None:
        nonlocal failed
        failed = True
        if key in entry:
            problem("patterns", idx, key, msg)
        elif key in defaults:
            problem("defaults", None, key, msg)
        else:
            problem("patterns", idx, None, msg)

    def typed(key: str, types: tuple[type, ...]) -> Any:
        v = m.get(key)
        return v if isinstance(v, types) and not isinstance(v, bool) else None

    backend = typed("backend", (str,)) or "lmstudio"
    if backend not in BACKEND_KINDS:
        bad(
            "backend",
            f"backend {backend!r} in {label} is not one of {', '.join(BACKEND_KINDS)}"
            f"{_suggest(backend, BACKEND_KINDS)}",
        )
        backend = "lmstudio"
    url = typed("url", (str,)) or default_url(backend)  # type: ignore[arg-type]
    if not re.match(r"^https?://[^\s/]+", url):
        bad("url", f"url {url!r} in {label} must start with http:// or https://")
    model_path = typed("model_path", (str,))
    if model_path and model_path.startswith(BUILTIN_PREFIX) and model_path[len(BUILTIN_PREFIX) :] not in SHAPES:
        bad("model_path", f"model_path {model_path!r} in {label} is not a built-in model; use one of "
            f"{', '.join(BUILTIN_PREFIX + n for n in SHAPES)}")  # fmt: skip
    model = typed("model", (str,))
    if not model and model_path:
        model = Path(model_path.removeprefix("builtin:")).stem
    if not model:
        bad("model", f'{label} has no model: set model = "..." in it or in [defaults]')

    # The pattern's own prompt wins over the defaults' prompt or prompt_file, and vice versa.
    src = entry if ("prompt" in entry or "prompt_file" in entry) else defaults
    prompt = src.get("prompt") if isinstance(src.get("prompt"), str) else None
    prompt_file = src.get("prompt_file") if isinstance(src.get("prompt_file"), str) else None
    if prompt is not None and prompt_file is not None:
        bad("prompt_file", f"{label} sets both prompt and prompt_file: keep one")
    elif prompt_file is not None:
        try:
            prompt = (base / os.path.expanduser(prompt_file)).read_text(encoding="utf-8")
        except OSError as e:
            bad(
                "prompt_file",
                f"prompt_file {prompt_file!r} in {label} cannot be read: {e.strerror or e} "
                "(paths are relative to the pattern file)",
            )
    effort = typed("reasoning_effort", (str,))
    if effort is not None and effort not in REASONING_EFFORTS:
        bad("reasoning_effort", f"reasoning_effort {effort!r} in {label} must be low, medium or high")
    for key, least in (("max_tokens", 1), ("repeat", 1), ("context_length", 0)):
        v = typed(key, (int,))
        if v is not None and v < least:
            bad(key, f"{key} in {label} must be {least} or more, not {v}")
    layers = typed("gpu_layers", (int, str))
    if isinstance(layers, int) and layers < 0:
        bad("gpu_layers", f'gpu_layers in {label} cannot be negative ({layers}); use 0 or "off" for CPU only')
    if isinstance(layers, str) and layers not in ("max", "off"):
        bad("gpu_layers", f'gpu_layers {layers!r} in {label} must be an integer, "max" or "off"')
    cpu_moe = typed("n_cpu_moe", (int, str))
    if (isinstance(cpu_moe, int) and cpu_moe < 0) or (isinstance(cpu_moe, str) and cpu_moe != "all"):
        bad("n_cpu_moe", f'n_cpu_moe {cpu_moe!r} in {label} must be 0 or more, or "all" (every expert on the CPU)')
    for key in ("timeout_s", "first_token_timeout_s", "temperature"):
        v = typed(key, (int, float))
        if v is not None and (v < 0 or (key != "temperature" and v == 0)):
            bad(key, f"{key} in {label} must be positive, not {v}")
    # A key of the wrong type was reported by _check_keys; the pattern is not built either way.
    if failed or any(k in KEYS and (isinstance(v, bool) or not isinstance(v, KEYS[k][0])) for k, v in m.items()):
        return None
    line = loc.line("patterns", idx)
    temperature = typed("temperature", (int, float))
    first_token = typed("first_token_timeout_s", (int, float))
    return Pattern(
        name=name,
        backend=backend,
        url=url.rstrip("/"),
        model=model or "",
        prompt=prompt if prompt is not None else DEFAULT_PROMPT,
        description=typed("description", (str,)) or "",
        system_prompt=typed("system_prompt", (str,)),
        max_tokens=typed("max_tokens", (int,)) or DEFAULT_MAX_TOKENS,
        reasoning_effort=effort,
        temperature=float(temperature) if temperature is not None else None,
        seed=typed("seed", (int,)),
        context_length=typed("context_length", (int,)) or None,
        gpu_layers=layers,
        model_path=model_path,
        server_bin=typed("server_bin", (str,)),
        api_key_env=typed("api_key_env", (str,)),
        timeout_s=float(typed("timeout_s", (int, float)) or 600.0),
        first_token_timeout_s=float(first_token) if first_token else None,
        repeat=typed("repeat", (int,)) or 1,
        n_cpu_moe=cpu_moe,
        host=typed("host", (str,)),
        source=f"{loc.source}:{line}" if line else loc.source,
        _order=idx,
    )


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" — did you mean {close[0]!r}?" if close else ""


def _typename(v: Any) -> str:
    return {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(v), type(v).__name__)


def pattern_to_dict(p: Pattern) -> dict[str, Any]:
    """A pattern as a [[patterns]] table, leaving out defaults and internal fields."""
    out: dict[str, Any] = {"name": p.name}
    for f in fields(Pattern):
        if f.name in ("name", "source", "_order"):
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
