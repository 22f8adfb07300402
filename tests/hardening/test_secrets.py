"""API keys never appear in output, results, exports, files or error text.

Two distinctive keys: the one the servers accept and a wrong one. They reach gptoss-top only the
way a user gives them (`LM_API_TOKEN`, a pattern's `api_key_env`); servers that echo the presented
key back in their 401 body (the LM Studio fake's `echo_key` fault) and a real llama-server started
with `--api-key` answer. Then every byte gptoss-top produced is searched for either key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import BackendError, ChatRequest, LoadSpec
from backends.runs.patterns import Pattern
from backends.runs.session import BackendPool, run_pattern
from tests.conftest import REPO, RunningServer, start_server, stop_server
from tests.fakes.lmstudio import FakeLMStudio
from tui.cli import main

RIGHT = "sk-lm-SECRETSECRET:ABCDEF0123456789abcdef"
WRONG = "sk-lm-WRONGWRONGWR:ZYXWVU9876543210zyxwvu"
# Pieces too: a key cut in half (a truncated message) must not leak either.
NEEDLES = (RIGHT, WRONG, RIGHT[:16], RIGHT[-16:], WRONG[:16], WRONG[-16:])
M20 = "openai/gpt-oss-20b"


def leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


@pytest.fixture(scope="module")
def keyed_server(server_bin: str, tiny_model: Path) -> Iterator[RunningServer]:
    server = start_server(server_bin, tiny_model, extra=("--api-key", RIGHT))
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeLMStudio]]:
    started = {
        "0.4": FakeLMStudio("0.4", api_key=RIGHT, faults={"echo_key"}, tokens_per_second=2000).start(),
        "0.3": FakeLMStudio("0.3", api_key=RIGHT, faults={"echo_key"}, tokens_per_second=2000).start(),
    }
    yield started
    for f in started.values():
        f.stop()


def patterns(fakes: dict[str, FakeLMStudio], llama: str) -> list[dict[str, Any]]:
    """(name, backend, url, model, api_key_env or None for LM_API_TOKEN, should work)."""
    rows = [
        ("lms-echo", "lmstudio", fakes["0.4"].url, M20, None),
        ("lms03-echo", "lmstudio", fakes["0.3"].url, M20, None),
        ("lms-right", "lmstudio", fakes["0.4"].url, M20, "RIGHT_KEY"),
        ("openai-echo", "openai", fakes["0.3"].url, M20, "WRONG_KEY"),
        ("openai-right", "openai", fakes["0.3"].url, M20, "RIGHT_KEY"),
        ("llama-wrong", "llamacpp", llama, "tiny", "WRONG_KEY"),
        ("llama-right", "llamacpp", llama, "tiny", "RIGHT_KEY"),
        ("openai-llama-wrong", "openai", llama, "tiny", "WRONG_KEY"),
        ("openai-llama-right", "openai", llama, "tiny", "RIGHT_KEY"),
    ]
    out = []
    for name, backend, url, model, env in rows:
        p = {"name": name, "backend": backend, "url": url, "model": model, "prompt": "hi", "max_tokens": 8}
        if env:
            p["api_key_env"] = env
        out.append(p)
    return out


def write_patterns(path: Path, rows: list[dict[str, Any]]) -> None:
    lines = []
    for p in rows:
        lines.append("[[patterns]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in p.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.integration
def test_no_key_in_any_output_or_file(
    keyed_server: RunningServer,
    fakes: dict[str, FakeLMStudio],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = patterns(fakes, keyed_server.url)
    pfile = tmp_path / "patterns.toml"
    write_patterns(pfile, rows)
    assert not leaks(pfile.read_text())  # the pattern holds the variable's name, never the key
    env = {**os.environ, "LM_API_TOKEN": WRONG, "WRONG_KEY": WRONG, "RIGHT_KEY": RIGHT}
    bench_out = tmp_path / "out" / "bench.json"
    bench_out.parent.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "tui", "bench", str(pfile), "--format", "json", "--out", str(bench_out)],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=env,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr  # the wrong keys fail, as they must
    records = {rec["pattern"]: rec for rec in json.loads(r.stdout)}
    for p in rows:
        rec = records[p["name"]]
        works = p["name"].endswith("-right")
        assert rec["ok"] is works, (p["name"], rec["error"])
        if not works:
            assert rec["error_kind"] == "auth", rec["error"]
            assert "api_key_env" in rec["error_hint"]  # and says where the key comes from
    # The echoing servers did send the key back, so the redaction is what kept it out.
    for name in ("lms-echo", "lms03-echo", "openai-echo"):
        assert "Bearer ***" in records[name]["error"], records[name]["error"]
    presented = [req.headers.get("Authorization") for f in fakes.values() for req in f.requests]
    assert f"Bearer {WRONG}" in presented and f"Bearer {RIGHT}" in presented

    # Every export format, through the CLI.
    monkeypatch.setenv("LM_API_TOKEN", WRONG)
    exported = {}
    for fmt in ("table", "markdown", "csv", "json"):
        out = tmp_path / "out" / f"results.{fmt}"
        assert main(["results", "--format", fmt, "--out", str(out)]) == 0
        exported[fmt] = out.read_text()
        assert "llama-right" in exported[fmt] or fmt in ("table", "markdown")
    printed = capsys.readouterr()

    for what, text in {"stdout": r.stdout, "stderr": r.stderr, "results stdout": printed.out,
                       "results stderr": printed.err, **exported}.items():  # fmt: skip
        assert not leaks(text), f"the key is in {what}"
    # Every file under the data, config and output folders (results.jsonl, exports, ...).
    walked = 0
    for root in (tmp_path / "data", tmp_path / "config", tmp_path / "out"):
        for path in root.rglob("*") if root.exists() else ():
            if path.is_file():
                walked += 1
                assert not leaks(path.read_text(errors="replace")), f"the key is in {path}"
    assert walked >= 6  # results.jsonl, bench.json and four exports at least


@pytest.mark.integration
async def test_no_key_in_raised_errors_or_records(
    keyed_server: RunningServer, fakes: dict[str, FakeLMStudio], monkeypatch: pytest.MonkeyPatch
) -> None:
    """str(), repr(), args and the formatted traceback (with its chained causes) of every error."""
    monkeypatch.setenv("LM_API_TOKEN", WRONG)
    monkeypatch.setenv("WRONG_KEY", WRONG)
    pool = BackendPool()
    seen = 0
    try:
        for row in patterns(fakes, keyed_server.url):
            if row["name"].endswith("-right"):
                continue
            p = Pattern(**{k: v for k, v in row.items()})
            backend = pool.get(p)
            assert not leaks(repr(backend))
            for call in ("prepare", "stream"):
                try:
                    if call == "prepare":
                        await backend.prepare(LoadSpec(p.model))
                    else:
                        async for _ in backend.stream(ChatRequest.simple(p.model, "hi", max_tokens=4)):
                            pass
                except BackendError as e:
                    seen += 1
                    texts = [str(e), repr(e), repr(e.args), e.hint or "", "".join(traceback.format_exception(e))]
                    cause: BaseException | None = e.__cause__ or e.__context__
                    while cause is not None:
                        texts += [str(cause), repr(cause)]
                        cause = cause.__cause__ or cause.__context__
                    for t in texts:
                        assert not leaks(t), (row["name"], call, t)
            rec = await run_pattern(p, backend)
            assert not rec.ok
            assert not leaks(json.dumps(rec.to_dict())), row["name"]
    finally:
        await pool.aclose()
    assert seen >= 5  # the wrong keys really were refused somewhere
