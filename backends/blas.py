"""numpy for gptoss-top's own small arrays (the plotting widgets, the demo's generated models), loaded
with one OpenBLAS thread.

numpy's wheels bring OpenBLAS, which starts a thread per core when it loads; each waits for work by
spinning before it sleeps. On a 2-core machine, loading numpy took 0.18 s of a core and its thread
spun another 0.03-0.11 s. It takes 0.07 s with one thread and spins not at all. gptoss-top multiplies
no matrix that a second thread would speed up, and loads numpy while the user's model may be
computing on those same cores. OpenBLAS reads OPENBLAS_NUM_THREADS once, when it loads, and the
variable is put back at once, so a server gptoss-top starts later keeps the environment it was given.
A value the user set is left alone.
"""

from __future__ import annotations

import os
import sys

ENV = "OPENBLAS_NUM_THREADS"


def load_numpy() -> None:
    """Load numpy now, if nothing has yet, with one OpenBLAS thread; `import numpy` after this is free."""
    if "numpy" in sys.modules:
        return
    ours = ENV not in os.environ
    if ours:
        os.environ[ENV] = "1"
    try:
        import numpy  # noqa: F401
    finally:
        if ours:
            os.environ.pop(ENV, None)
