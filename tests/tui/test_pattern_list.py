"""The pattern list keeps one line per pattern: a wrapped line would read as another pattern."""

from __future__ import annotations

from collections.abc import Callable

from backends.runs.patterns import parse_patterns
from tests.tui.conftest import PATTERNS_TOML
from tui.app import GptossTop
from tui.widgets.patterns import PatternList


async def test_long_names_are_cut_not_wrapped(build: Callable[..., GptossTop]) -> None:
    toml = {"defaults": PATTERNS_TOML["defaults"],
            "patterns": [{"name": f"a-long-pattern-name-{i}", "context_length": 131072, "gpu_layers": "off"}
                         for i in range(3)]}  # fmt: skip
    app = build(patterns=parse_patterns(toml, "long.toml").patterns)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        plist = app.main.query_one(PatternList)
        assert plist.option_count == 3
        assert plist.virtual_size.height == 3
