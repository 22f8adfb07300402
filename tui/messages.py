"""Messages from the workers to the screen.

The workers run on the event loop (they are async), so the token path needs no messages: it fills
a buffer the screen drains at 10 Hz, and a run's start and end are handled in the worker itself, in
order with its tokens. Messages carry the "latest state is X" news, and those coalesce
(`can_replace`): a slow screen skips stale ones instead of working through a backlog.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from backends.base import Health, LoadedModel


@dataclass
class HealthChecked(Message):
    backend_key: str
    health: Health
    loaded: list[LoadedModel] = field(default_factory=list)
    note: str | None = None  # shown instead of a health verdict ("starts on the first run")

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HealthChecked)


@dataclass
class RunStatus(Message):
    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunStatus)
