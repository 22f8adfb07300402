"""The footer shows a one-character key as itself, without asking the Unicode name database.

Textual looks each key's name up first (`unicodedata.lookup("Q")`, which fails), and a failed lookup
touches up to ~80 KB of that database's pages in an idle TUI's RSS."""

from __future__ import annotations

import unicodedata

import pytest
from textual.app import App
from textual.binding import Binding

from tui.app import GptossTop


def ours(key: str) -> str:
    """GptossTop's display of a key; the method reads nothing of the app's state."""
    return GptossTop.get_key_display(GptossTop.__new__(GptossTop), Binding(key, "noop"))


KEYS = ["q", "R", "1", "ctrl+p", "ctrl+r", "enter", "escape", "question_mark", "shift+tab"]


@pytest.mark.parametrize("key", KEYS)
def test_keys_show_as_textual_shows_them(key: str) -> None:
    assert ours(key) == App().get_key_display(Binding(key, "noop"))


def test_one_character_keys_do_not_look_up_unicode_names(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    lookup = unicodedata.lookup

    def spy(name: str) -> str:
        looked_up.append(name)
        return lookup(name)

    monkeypatch.setattr(unicodedata, "lookup", spy)
    shown = [ours(k) for k in ("q", "a", "R", "ctrl+p")]
    assert shown == ["q", "a", "R", "^p"]
    assert looked_up == []
    App().get_key_display(Binding("a", "noop"))  # Textual's own way does look it up: the spy works
    assert looked_up
