"""An idle TUI's questions to its servers load no httpx.

The header asks the pattern's server how it is every few seconds, and the fit marks ask llama-server
which model file it has. Through httpx that kept httpx, httpcore, h11, anyio and a TLS context in an
idle TUI: ~5 MB of its RSS (benchmarks/tui_idle.py). These checks run in a fresh interpreter, against
the real llama-server and the Ollama and LM Studio fakes, and fail as soon as one of them imports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import RunningServer
from tests.fakes.lmstudio import FakeLMStudio
from tests.fakes.ollama import FakeOllama

HEAVY = ("httpx", "httpcore", "h11", "anyio", "certifi")

CHILD = """
import asyncio, json, sys
from types import SimpleNamespace
from backends.base import Endpoint
from backends.runs import health
from backends.runs.fit.describe import describe
from backends.servers.registry import make_backend

urls = json.loads(sys.argv[1])
out = {}
async def main():
    for kind, url in urls.items():
        backend = make_backend(kind, Endpoint(url, timeout_s=10))
        report = await health.report(backend)
        out[kind] = [report.health.ok, [m.name for m in report.loaded]]
        await backend.aclose()
asyncio.run(main())
pattern = SimpleNamespace(backend="llamacpp", url=urls["llamacpp"], model="tiny", model_path=None)
out["describe"] = describe(pattern).name
out["heavy"] = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(json.dumps(out))
"""


def test_health_polls_and_the_fit_lookup_load_no_httpx(llama_server: RunningServer) -> None:
    with FakeOllama() as ollama, FakeLMStudio() as lmstudio:
        urls = {"llamacpp": llama_server.url, "ollama": ollama.url, "lmstudio": lmstudio.url}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(urls), ",".join(HEAVY)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["llamacpp"][0] and out["ollama"][0] and out["lmstudio"][0], out  # every server answered
    assert out["llamacpp"][1], out  # and said what it has loaded
    assert out["describe"] == "tiny", out  # /props named the model file, which was read
    assert out["heavy"] == [], out
