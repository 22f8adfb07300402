"""What a pattern file may contain, and how a mistake in it is reported: file, line, key, what to do.

tomllib reports no positions, so `Locator` finds the line of a table or key in the source text.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BACKEND_KINDS, REASONING_EFFORTS
from backends.servers.registry import default_url
from backends.servers.tinymodel import BUILTIN_PREFIX, SHAPES

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
    "server_stats": _STR,
}
PATTERN_ONLY = {"name"}
TOP_LEVEL = {"defaults", "patterns", "hosts"}
HOST_KEYS = {"telemetry", "description"}

# problem(table, index of a [[table]] or None, key or None, message)
ProblemSink = Callable[[str, int | None, str | None, str], None]


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


class Locator:
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

    def where(self, line: int | None) -> str:
        """ "file:line" for a pattern's `source`, or the file alone when the line is unknown."""
        return f"{self.source}:{line}" if line else self.source


def check_keys(
    table: Mapping[str, Any], tname: str, idx: int | None, label: str, problem: ProblemSink, *, allow_name: bool
) -> None:
    """Unknown keys (with the nearest known one) and values of the wrong type."""
    allowed = set(KEYS) | (PATTERN_ONLY if allow_name else set())
    for key, value in table.items():
        if key not in allowed:
            problem(tname, idx, key, f"unknown key {key!r} in {label}{suggest(key, allowed)}")
            continue
        if key == "name":
            continue
        types, desc = KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            problem(tname, idx, key, f"{key} in {label} must be {desc}, not {typename(value)} ({value!r})")


def wrong_type(merged: Mapping[str, Any]) -> bool:
    """Whether any known key holds a value of the wrong type (already reported by check_keys)."""
    return any(k in KEYS and (isinstance(v, bool) or not isinstance(v, KEYS[k][0])) for k, v in merged.items())


def suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" — did you mean {close[0]!r}?" if close else ""


def typename(v: object) -> str:
    return {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(v), type(v).__name__)


class Entry:
    """One [[patterns]] table over [defaults]: typed reads, and problems at the line that set the key."""

    def __init__(
        self, defaults: Mapping[str, Any], table: Mapping[str, Any], idx: int, label: str, problem: ProblemSink
    ) -> None:
        self.defaults = defaults
        self.table = table
        self.merged = {**defaults, **table}
        self.idx = idx
        self.label = label
        self._problem = problem
        self.failed = False

    def bad(self, key: str, msg: str) -> None:
        self.failed = True
        if key in self.table:
            self._problem("patterns", self.idx, key, msg)
        elif key in self.defaults:
            self._problem("defaults", None, key, msg)
        else:
            self._problem("patterns", self.idx, None, msg)

    def get(self, key: str, types: tuple[type, ...]) -> Any:
        v = self.merged.get(key)
        return v if isinstance(v, types) and not isinstance(v, bool) else None

    def text(self, key: str) -> str | None:
        v: str | None = self.get(key, (str,))
        return v

    def integer(self, key: str) -> int | None:
        v: int | None = self.get(key, (int,))
        return v

    def number(self, key: str) -> float | None:
        v: float | None = self.get(key, (int, float))
        return v


def backend_and_url(e: Entry) -> tuple[str, str]:
    backend = e.text("backend") or "lmstudio"
    if backend not in BACKEND_KINDS:
        e.bad("backend", f"backend {backend!r} in {e.label} is not one of {', '.join(BACKEND_KINDS)}"
              f"{suggest(backend, BACKEND_KINDS)}")  # fmt: skip
        backend = "lmstudio"
    url = e.text("url") or default_url(backend)  # type: ignore[arg-type]
    if not re.match(r"^https?://[^\s/]+", url):
        e.bad("url", f"url {url!r} in {e.label} must start with http:// or https://")
    return backend, url


def model_of(e: Entry) -> tuple[str | None, str | None]:
    """The model's name, and the GGUF file (or builtin:NAME) llama.cpp's managed mode loads."""
    model_path = e.text("model_path")
    if model_path and model_path.startswith(BUILTIN_PREFIX) and model_path[len(BUILTIN_PREFIX) :] not in SHAPES:
        e.bad("model_path", f"model_path {model_path!r} in {e.label} is not a built-in model; use one of "
              f"{', '.join(BUILTIN_PREFIX + n for n in SHAPES)}")  # fmt: skip
    model = e.text("model")
    if not model and model_path:
        model = Path(model_path.removeprefix(BUILTIN_PREFIX)).stem
    if not model:
        e.bad("model", f'{e.label} has no model: set model = "..." in it or in [defaults]')
    return model, model_path


def prompt_of(e: Entry, base: Path) -> str | None:
    # The pattern's own prompt wins over the defaults' prompt or prompt_file, and vice versa.
    src = e.table if ("prompt" in e.table or "prompt_file" in e.table) else e.defaults
    prompt = src.get("prompt") if isinstance(src.get("prompt"), str) else None
    prompt_file = src.get("prompt_file") if isinstance(src.get("prompt_file"), str) else None
    if prompt is not None and prompt_file is not None:
        e.bad("prompt_file", f"{e.label} sets both prompt and prompt_file: keep one")
    elif prompt_file is not None:
        try:
            prompt = (base / os.path.expanduser(prompt_file)).read_text(encoding="utf-8")
        except OSError as err:
            e.bad("prompt_file", f"prompt_file {prompt_file!r} in {e.label} cannot be read: {err.strerror or err} "
                  "(paths are relative to the pattern file)")  # fmt: skip
    return prompt


def check_limits(e: Entry) -> None:
    """Reasoning effort, counts, offload and time-outs within their ranges."""
    label = e.label
    effort = e.text("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        e.bad("reasoning_effort", f"reasoning_effort {effort!r} in {label} must be low, medium or high")
    for key, least in (("max_tokens", 1), ("repeat", 1), ("context_length", 0)):
        v = e.integer(key)
        if v is not None and v < least:
            e.bad(key, f"{key} in {label} must be {least} or more, not {v}")
    layers = e.get("gpu_layers", (int, str))
    if isinstance(layers, int) and layers < 0:
        e.bad("gpu_layers", f'gpu_layers in {label} cannot be negative ({layers}); use 0 or "off" for CPU only')
    if isinstance(layers, str) and layers not in ("max", "off"):
        e.bad("gpu_layers", f'gpu_layers {layers!r} in {label} must be an integer, "max" or "off"')
    stats = e.text("server_stats")
    if stats is not None and stats != "exo-bench":
        e.bad("server_stats", f"server_stats {stats!r} in {label} must be \"exo-bench\" (exo's server-timed "
              "/bench/chat/completions), or left out")  # fmt: skip
    cpu_moe = e.get("n_cpu_moe", (int, str))
    if (isinstance(cpu_moe, int) and cpu_moe < 0) or (isinstance(cpu_moe, str) and cpu_moe != "all"):
        e.bad("n_cpu_moe", f'n_cpu_moe {cpu_moe!r} in {label} must be 0 or more, or "all" (every expert on the CPU)')
    for key in ("timeout_s", "first_token_timeout_s", "temperature"):
        n = e.number(key)
        if n is not None and (n < 0 or (key != "temperature" and n == 0)):
            e.bad(key, f"{key} in {label} must be positive, not {n}")
