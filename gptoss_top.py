"""The `gptoss-top` command: checks that `backends` and `tui` are this application's, then runs it.

gptoss-top's import packages have generic names, and unrelated distributions on the package index use
the same two. Installed into one environment, one of them overwrites or shadows the other, and what
fails then is an ImportError deep inside the wrong package. This launcher has a name of its own, so it
can look first and say what is wrong and how to install in isolation.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGES = ("backends", "tui")
# gptoss-top's `__init__.py` of both packages says so; another distribution's (found first on the path,
# or installed over the same folder) does not.
STAMP = 'DISTRIBUTION = "gptoss-top"'
ISOLATED = "pipx install gptoss-top   (or: uv tool install gptoss-top)"


def _owners(name: str) -> list[str]:
    try:
        from importlib.metadata import packages_distributions

        return sorted(set(packages_distributions().get(name, [])) - {"gptoss-top"})
    except Exception:  # a broken metadata file elsewhere must not stop the check
        return []


def shadowed() -> list[str]:
    """One line per import package that does not resolve to the folder beside this file."""
    problems = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin) if spec and spec.origin else None
        try:
            if origin is not None and STAMP in origin.read_text(encoding="utf-8"):
                continue
        except OSError:
            pass
        found = f"to {origin.parent}" if origin else "to nothing importable"
        others = _owners(name)
        by = f", installed by {', '.join(others)}" if others else ""
        problems.append(f"the import package {name!r} resolves {found}{by}: that is not gptoss-top's")
    return problems


def main() -> int:
    problems = shadowed()
    if problems:
        print("gptoss-top: another package shadows gptoss-top's own code:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(
            "gptoss-top shares the names 'backends' and 'tui' with unrelated packages. Install it in an\n"
            f"environment of its own:  {ISOLATED}\n"
            "or remove the other package from this environment.",
            file=sys.stderr,
        )
        return 2
    from tui.cli import main as cli_main

    return cli_main(own_process=True)


if __name__ == "__main__":
    sys.exit(main())
