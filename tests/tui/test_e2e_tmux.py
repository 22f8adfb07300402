"""End to end: the real `gptoss-top` command in a real terminal (tmux) against the real llama-server.

Keys go in with `tmux send-keys`, the screen comes back with `tmux capture-pane`; nothing here
reaches into the app. Textual draws on stderr, so the command's stderr is left on the terminal.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.servers.llamaserver import free_port
from tests.conftest import REPO, RunningServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh installs it)"),
]

PATTERN_NAMES = ("e2e-alpha", "e2e-bravo", "e2e-charlie")
RATE = re.compile(r"(\d+(?:\.\d+)?)\s*tok/s")


def _glyphs() -> dict[tuple[str, str, str], str]:
    # Textual's own 3x3 font (plain and bold), so the big rate is read back exactly as it was drawn.
    from textual.renderables.digits import DIGITS, DIGITS3X3, DIGITS3X3_BOLD

    out: dict[tuple[str, str, str], str] = {}
    for table in (DIGITS3X3, DIGITS3X3_BOLD):
        for ch in "0123456789":
            i = DIGITS.index(ch) * 3
            out[(table[i].ljust(3), table[i + 1].ljust(3), table[i + 2].ljust(3))] = ch
    return out


def read_digits(rows: list[str]) -> str:
    """The text drawn by a Digits widget: three screen rows of box characters, 3 cells a glyph
    ("." is one cell, a dot on the bottom row)."""
    glyphs = _glyphs()
    top, mid, bot = (r.ljust(max(map(len, rows))) for r in rows)
    out, c = "", 0
    while c < len(top):
        if top[c] == mid[c] == " " and bot[c] in "•.":
            out, c = out + ".", c + 1
            continue
        key = (top[c : c + 3], mid[c : c + 3], bot[c : c + 3])
        if key in glyphs:
            out, c = out + glyphs[key], c + 3
        elif key == ("   ", "   ", "   ") or not out:
            c += 1  # padding before or after the number
        else:
            break
    return out


def big_rate(screen: str, label: str) -> float:
    """The large tok/s figure under the throughput panel's label line (the left column)."""
    lines = screen.splitlines()
    at = next(i for i, line in enumerate(lines) if label in line)
    # The label's line has no digits in it, so its next "│" is the panel's right border.
    right = lines[at].index("│", 1)
    rows = [line[1:right] for line in lines[at + 1 : at + 4]]
    text = read_digits(rows)
    assert text, f"no digits under {label!r}:\n" + "\n".join(rows)
    return float(text)


def write_patterns(path: Path, url: str) -> Path:
    lines = [
        "[defaults]",
        'backend = "llamacpp"',
        f'url = "{url}"',
        'model = "gptoss-top-tiny"',
        'prompt = "Count the waves."',
        "max_tokens = 200",
        "seed = 7",
        "first_token_timeout_s = 30",
        "timeout_s = 60",
        "",
    ]
    for name in PATTERN_NAMES:
        lines += ["[[patterns]]", f'name = "{name}"', "context_length = 4096", 'gpu_layers = "off"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Tmux:
    """One detached tmux session running a command; its screen read back as plain text."""

    def __init__(self, name: str) -> None:
        self.name = name

    def start(self, command: str, width: int, height: int, env: dict[str, str]) -> None:
        # A private server socket (-L): never touches the user's own tmux sessions.
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                   f"cd {shlex.quote(str(REPO))} && env {exports} {command}")  # fmt: skip

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True, check=check, timeout=10)

    def alive(self) -> bool:
        return self._tmux("has-session", "-t", self.name, check=False).returncode == 0

    def screen(self) -> str:
        r = self._tmux("capture-pane", "-p", "-t", self.name, check=False)
        return r.stdout if r.returncode == 0 else ""

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, what: str, ok: Callable[[str], bool], timeout: float) -> str:
        """The screen once `ok` holds and two captures in a row agree.

        tmux draws the app's output as it arrives, so one capture can catch a frame half written
        (a label on screen, its figure not yet): only a settled screen is returned.
        """
        deadline = time.monotonic() + timeout
        text, last = "", None
        while time.monotonic() < deadline:
            text = self.screen()
            if ok(text):
                if text == last:
                    return text
                last = text
                time.sleep(0.05)
                continue
            last = None
            if not self.alive():
                pytest.fail(f"the app exited while waiting for {what}; last screen:\n{text}")
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last screen:\n{text}")

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return False

    def kill(self) -> None:
        self._tmux("kill-server", check=False)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"gptoss-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield t
    finally:
        t.kill()


def launch(tmux: Tmux, config: Path, data_dir: Path, width: int, height: int) -> None:
    env = {
        "GPTOSS_TOP_DATA_DIR": str(data_dir),
        "GPTOSS_TOP_CONFIG_DIR": str(data_dir.parent / "config"),
        "GPTOSS_TOP_CACHE_DIR": str(data_dir.parent / "cache"),
        "TERM": "xterm-256color",
        "PYTHONPATH": str(REPO),
    }
    tmux.start(f"{shlex.quote(sys.executable)} -m tui --config {shlex.quote(str(config))}", width, height, env)


def test_run_second_pattern_on_llama_server(tmux: Tmux, llama_server: RunningServer, tmp_path: Path) -> None:
    config = write_patterns(tmp_path / "e2e.toml", llama_server.url)
    data = tmp_path / "e2e-data"
    launch(tmux, config, data, 100, 30)

    tmux.wait_for("the pattern list", lambda s: all(n in s for n in PATTERN_NAMES), timeout=30)
    tmux.keys("2")
    tmux.wait_for("pattern 2 selected", lambda s: "pattern e2e-bravo" in s, timeout=10)
    tmux.keys("Enter")
    screen = tmux.wait_for(
        "the finished run", lambda s: "e2e-bravo: done" in s and "final" in s and "client" in s, timeout=60
    )

    # The run's own name, and its rate as the panel prints it.
    assert "Output — e2e-bravo" in screen, screen
    shown = big_rate(screen, "tok/s · final")
    assert shown > 0, screen
    client = [float(m) for line in screen.splitlines() if "client" in line for m in RATE.findall(line)]
    assert client and client[0] > 0, screen

    records = [json.loads(line) for line in (data / "results.jsonl").read_text().splitlines() if line.strip()]
    assert [r["pattern"] for r in records] == ["e2e-bravo"], records
    rec = records[0]
    assert rec["ok"] is True, rec
    assert rec["completion_tokens"] == 200, rec
    # The panel shows the record's figure: whole numbers from 1000 tok/s, one decimal below.
    assert shown == pytest.approx(rec["decode_tps"], abs=0.51), (shown, rec["decode_tps"])
    assert client[0] == pytest.approx(rec["decode_tps_client"], abs=0.051)

    tmux.keys("q")
    assert tmux.wait_gone(10), f"the app did not exit after q:\n{tmux.screen()}"


def test_server_down_80x24(tmux: Tmux, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    config = write_patterns(tmp_path / "down.toml", url)
    data = tmp_path / "down-data"
    launch(tmux, config, data, 80, 24)

    tmux.wait_for("the pattern list", lambda s: PATTERN_NAMES[0] in s, timeout=30)
    tmux.keys("Enter")
    screen = tmux.wait_for("the error", lambda s: "e2e-alpha: failed" in s, timeout=30)
    assert "e2e-alpha failed: cannot connect" in screen, screen
    # What to do, on its own line: the adapter's hint (the record's error_hint).
    assert "What to do: is llama-server running" in screen, screen
    assert "tok/s · run failed" in screen, screen
    time.sleep(0.5)
    assert tmux.alive(), "the app exited after a failed run"
    assert "e2e-alpha" in tmux.screen()

    records = [json.loads(line) for line in (data / "results.jsonl").read_text().splitlines() if line.strip()]
    assert [(r["pattern"], r["ok"], r["error_kind"]) for r in records] == [("e2e-alpha", False, "server_unreachable")]

    tmux.keys("q")
    assert tmux.wait_gone(10), f"the app did not exit after q:\n{tmux.screen()}"
