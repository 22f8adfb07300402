"""numpy loads with one OpenBLAS thread in gptoss-top, and the environment is left as it was.

OpenBLAS starts a spinning thread per core when numpy loads; the charts and the demo's model writer
need none. Checked in a child interpreter: numpy loads once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads are counted in /proc")

CHILD = textwrap.dedent(
    """
    import json, os, sys
    before = len(os.listdir("/proc/self/task"))
    if sys.argv[1] == "charts":
        import tui.widgets.charts  # what the results and history panels load with their first chart
    else:
        import numpy
    print(json.dumps({"threads": len(os.listdir("/proc/self/task")) - before,
                      "env": os.environ.get("OPENBLAS_NUM_THREADS")}))
    """
)


def child(how: str, **env: str) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    p = subprocess.run([sys.executable, "-c", CHILD, how], capture_output=True, text=True, cwd=REPO,
                       env=base | {"PYTHONPATH": str(REPO)} | env, timeout=120, check=True)  # fmt: skip
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def test_the_charts_load_numpy_with_one_blas_thread_and_leave_the_environment_alone() -> None:
    plain = child("numpy")
    if plain["threads"] == 0:
        pytest.skip("this numpy starts no BLAS threads here (one core, or a BLAS without a pool)")
    assert child("charts") == {"threads": 0, "env": None}  # and a server started later inherits nothing


def test_a_value_the_user_set_is_kept() -> None:
    assert child("charts", OPENBLAS_NUM_THREADS="2") == {"threads": plain_threads(2), "env": "2"}


def plain_threads(n: int) -> int:
    """The threads numpy itself starts with OPENBLAS_NUM_THREADS=n (OpenBLAS runs n - 1 beside the caller)."""
    threads = child("numpy", OPENBLAS_NUM_THREADS=str(n))["threads"]
    assert isinstance(threads, int)
    return threads
