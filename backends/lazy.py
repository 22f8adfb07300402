"""Names a package offers but imports on first use (PEP 562 module `__getattr__`).

Importing a package should not define what only some of its users need: the TUI's first frame waits
for every module it imports, and a dataclass costs ~0.5 ms to define. A package names such things
under `TYPE_CHECKING` for the type checker, and gets them at run time from this `__getattr__`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A `__getattr__` for module `package` that imports each of `names` (name → the module that defines
    it) on first use and keeps it in the package's namespace, so later lookups never come here."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        source = names.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value: object = getattr(importlib.import_module(source), name)
        namespace[name] = value
        return value

    return __getattr__
