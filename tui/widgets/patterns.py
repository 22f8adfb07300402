"""The loaded patterns as a list: number, name, fit mark, settings. The highlighted one is "current".

The mark says whether the pattern fits this machine before anything runs (fits / spills / swap / ?);
the estimates are made off the UI thread and handed in with `set_marks`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from backends.runs.patterns import Pattern

MARKS = {"fits": ("fits", "green"), "spills": ("spills", "yellow"), "swap": ("swap", "bold red")}


def mark_text(est: Any | None) -> Text:
    """The fit mark of an estimate: fits / spills / swap, `?` when unknown, nothing before it is made."""
    if est is None:
        return Text("")
    word, style = MARKS.get(getattr(est, "verdict", ""), ("?", "dim"))
    return Text(word, style=style)


def _prompt(i: int, p: Pattern, est: Any | None = None) -> Text:
    key = f"{i + 1}" if i < 9 else " "
    t = Text.assemble((key, "bold"), " ", (p.name, "bold"), " ")
    mark = mark_text(est)
    if mark.plain:
        t.append_text(mark).append(" ")
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

    _patterns: list[Pattern]
    _marks: dict[str, Any]

    def set_patterns(self, patterns: list[Pattern]) -> None:
        keep = self.highlighted
        self._patterns = list(patterns)
        marks = getattr(self, "_marks", {})
        self._marks = {p.name: marks[p.name] for p in patterns if p.name in marks}
        self.clear_options()
        self.add_options([Option(_prompt(i, p, self._marks.get(p.name)), id=f"p{i}") for i, p in enumerate(patterns)])
        if patterns:
            self.highlighted = min(keep or 0, len(patterns) - 1)

    def set_marks(self, estimates: dict[str, Any]) -> None:
        """Fit estimates by pattern name (FitEstimate); patterns not named keep their mark."""
        self._marks = {**getattr(self, "_marks", {}), **estimates}
        for i, p in enumerate(getattr(self, "_patterns", [])):
            if p.name in estimates:
                self.replace_option_prompt_at_index(i, _prompt(i, p, estimates[p.name]))

    def mark_of(self, name: str) -> Any | None:
        return getattr(self, "_marks", {}).get(name)
