"""gptoss-top runs below a local server's CPU priority while it measures it; the server keeps its own.

The lowering cannot be undone by an unprivileged process, so every check runs in a child
interpreter of its own and reports what the OS says (`getpriority`, /proc/PID/stat).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backends.servers import priority

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys, threading
    from backends.runs.patterns import Pattern
    from backends.runs.session import BackendPool
    from backends.runs.sweep import run_sweep
    from backends.servers import priority

    def nice_of(pid):  # field 19 of /proc/PID/stat (proc(5))
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[16])

    url, model, nice = sys.argv[1], sys.argv[2], int(sys.argv[3])
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    priority.configure(nice)
    seen = {}
    early = threading.Event()
    def sampler_like():  # a thread that exists before the run, as the hardware sampler's does
        early.wait()
        seen["early_thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=sampler_like)
    t.start()
    attached = Pattern(name="attached", backend="llamacpp", url=url, model="m", prompt="hi", max_tokens=4)
    managed = Pattern(name="managed", backend="llamacpp", url="http://127.0.0.1:1", model="m", prompt="hi",
                      max_tokens=4, model_path=model, context_length=512)

    async def go():
        pool = BackendPool()
        try:
            recs = await run_sweep([attached], pool=pool)
            seen["main_after_attached_run"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            backend = await pool.open(managed)
            recs += await run_sweep([managed], pool=pool)
            seen["server"] = nice_of(backend.pid)
            seen["ok"] = [r.ok for r in recs]
        finally:
            await pool.aclose()

    asyncio.run(go())
    early.set()
    t.join()
    seen["before"] = before
    seen["lowered"] = priority.lowered()
    print(json.dumps(seen))
    """
)


def run_child(url: str, model: Path, nice: int) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-c", CHILD, url, str(model), str(nice)], capture_output=True, text=True,
                       timeout=120, env=env, cwd=REPO)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def test_a_run_on_a_local_server_lowers_every_thread_but_a_managed_server_keeps_its_priority(
    llama_server: object, tiny_model: Path
) -> None:
    url = llama_server.url  # type: ignore[attr-defined]
    seen = run_child(url, tiny_model, 10)
    base = seen["before"]
    assert isinstance(base, int)
    assert seen["ok"] == [True, True]
    assert seen["lowered"] is True
    assert seen["main_after_attached_run"] == min(base + 10, 19)
    assert seen["early_thread"] == min(base + 10, 19)
    # Started after we lowered ourselves, yet at the priority the user gave gptoss-top.
    assert seen["server"] == base


def test_nice_0_leaves_the_priority_alone(llama_server: object, tiny_model: Path) -> None:
    seen = run_child(llama_server.url, tiny_model, 0)  # type: ignore[attr-defined]
    assert seen["lowered"] is False
    assert seen["main_after_attached_run"] == seen["before"] == seen["early_thread"] == seen["server"]


TUNE_CHILD = textwrap.dedent(
    """
    import json, os, sys, threading
    from backends.servers import priority
    from tui.cli import main

    model = sys.argv[1]
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    code = main(["tune", "--backend", "llamacpp", "--model-path", model, "--max-tokens", "8", "--values", "0:1",
                 "--repeat", "1", "--no-save", "--format", "json"], own_process=True)
    print(json.dumps({"code": code, "before": before, "lowered": priority.lowered(),
                      "main": os.getpriority(os.PRIO_PROCESS, threading.get_native_id())}))
    """
)


def test_a_tune_runs_below_the_server_as_a_sweep_does(tiny_model: Path, tmp_path: Path) -> None:
    # The tuner measures decode rates to pick the fastest setting: the measurement a monitor's own CPU
    # would spoil most. Its runs do not go through a sweep.
    env = dict(os.environ, PYTHONPATH=str(REPO), GPTOSS_TOP_DATA_DIR=str(tmp_path), GPTOSS_TOP_NICE="10")
    p = subprocess.run([sys.executable, "-c", TUNE_CHILD, str(tiny_model)], capture_output=True, text=True,
                       timeout=180, env=env, cwd=REPO)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0, p.stderr[-3000:]
    assert seen["lowered"] is True
    assert seen["main"] == min(seen["before"] + 10, 19)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:11434", True),
        ("http://[::1]:1234", True),
        ("127.0.0.2:8080", True),
        ("http://192.168.1.20:1234", False),
        ("https://api.example.com/v1", False),
        ("http://[bad", False),
        (None, False),
    ],
)
def test_which_servers_are_local(url: str | None, local: bool) -> None:
    assert priority.is_local(url) is local


@pytest.mark.parametrize(
    ("url", "port"),
    [("http://127.0.0.1:8080", 8080), ("localhost:11434", 11434), ("http://localhost", None), ("http://h:99999", None),
     ("http://[bad", None), (None, None)],
)  # fmt: skip
def test_the_port_of_a_server(url: str | None, port: int | None) -> None:
    assert priority.port_of(url) == port


def test_which_servers_run_on_this_machine() -> None:
    assert priority.on_this_machine("http://127.0.0.1:8080")
    assert not priority.on_this_machine("http://127.0.0.1:8080", host="mini")  # a tunnel to another machine
    assert priority.on_this_machine("http://127.0.0.1:1", managed=True)
    assert not priority.on_this_machine("http://192.168.1.20:1234")


@pytest.mark.parametrize(("raw", "expected"), [("", 10), ("0", 0), ("5", 5), ("99", 19), ("-3", 0), ("x", 10)])
def test_the_environment_variable(raw: str, expected: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(priority.ENV, raw)
    assert priority.nice_from_env() == expected


def test_the_cli_refuses_a_nice_value_out_of_range() -> None:
    p = subprocess.run([sys.executable, "-m", "tui.cli", "--nice", "20", "probe"], capture_output=True, text=True,
                       timeout=60, cwd=REPO)  # fmt: skip
    assert p.returncode == 2
    assert "0 to 19" in p.stderr
