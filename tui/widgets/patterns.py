"""The loaded patterns as a list: number, name, settings. The highlighted one is "current"."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from backends.runs.patterns import Pattern


def _prompt(i: int, p: Pattern) -> Text:
    key = f"{i + 1}" if i < 9 else " "
    t = Text.assemble((key, "bold"), " ", (p.name, "bold"), " ")
    t.append(p.settings(), style="dim")
    t.no_wrap = True
    t.overflow = "ellipsis"
    return t


class PatternList(OptionList):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Run"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def set_patterns(self, patterns: list[Pattern]) -> None:
        keep = self.highlighted
        self.clear_options()
        self.add_options([Option(_prompt(i, p), id=f"p{i}") for i, p in enumerate(patterns)])
        if patterns:
            self.highlighted = min(keep or 0, len(patterns) - 1)
