"""The `gptoss-top` launcher refuses to start when another distribution's `backends` or `tui` shadows ours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LAUNCHER = Path(sys.executable).parent / "gptoss-top"


def _run(pythonpath: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(LAUNCHER), "--help"], capture_output=True, text=True, env=env, timeout=60)


def _shadow(root: Path, package: str, dist: str) -> None:
    """An unrelated distribution `dist` that installs an import package `package`, as pip would lay it out."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text('"""Another project entirely."""\n')
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{package}\n")
    (info / "RECORD").write_text(f"{package}/__init__.py,,\n")


@pytest.fixture(autouse=True)
def _needs_launcher() -> None:
    if not LAUNCHER.exists():
        pytest.skip("gptoss-top is not installed in this environment (run scripts/setup.sh)")


def test_starts_when_nothing_shadows_it() -> None:
    res = _run(None)
    assert res.returncode == 0, res.stderr
    assert "usage: gptoss-top" in res.stdout


@pytest.mark.parametrize(("package", "dist"), [("tui", "tui-toolkit"), ("backends", "backends-lib")])
def test_refuses_a_shadowing_package_and_says_how_to_install(tmp_path: Path, package: str, dist: str) -> None:
    _shadow(tmp_path, package, dist)
    res = _run(tmp_path)
    assert res.returncode == 2
    assert f"'{package}' resolves to {tmp_path / package}" in res.stderr
    assert f"installed by {dist}" in res.stderr
    assert "pipx install gptoss-top" in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""
