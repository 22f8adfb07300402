"""Messages from the workers to the screen.

A run's lifecycle arrives as messages (`RunStarted`, `RunProgress`, `RunFinished`, then `RunsEnded`
when the worker is done), posted by the run worker in the order things happen. The tokens do not:
they fill `LiveRun`'s buffers, which the screen drains at 10 Hz. "Latest state is X" news (health,
progress) coalesces (`can_replace`): a slow screen skips stale ones instead of working through a backlog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # annotations only: the health checks and the pool load after the first frame
    from backends.runs.health import HealthReport
    from backends.runs.patterns import Pattern
    from backends.runs.pool import BackendKey
    from backends.runs.record import RunRecord


@dataclass
class HealthChecked(Message):
    backend_key: BackendKey  # the pool's key of the backend that answered
    report: HealthReport

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HealthChecked)


@dataclass
class RunStarted(Message):
    seq: int  # counts every run this screen started, so tokens are never shown under another run
    pattern: Pattern
    label: str  # "A", or "[2/6] B run 1" in a sweep


@dataclass
class RunProgress(Message):
    text: str  # "A: streaming"

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgress)


@dataclass
class RunFinished(Message):
    seq: int
    record: RunRecord  # stopped runs too
    save_error: str | None
    # The text that arrived after the last drain, and the run's tok/s history: taken from the live
    # buffers when the run ended, since the next run may have started by the time this is handled.
    tail: tuple[str, str]
    spark: tuple[float, ...]


@dataclass
class RunsEnded(Message):
    """The run worker is done: after its last RunFinished, or stopped, or failed."""

    records: list[RunRecord] | None  # a finished sweep's records; None for a single run or a stop
