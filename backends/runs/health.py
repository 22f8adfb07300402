"""Is a pattern's server there, and what has it loaded? Asked of the backend's declared capabilities.

Never raises and never waits long: a dead or slow server must not hold up the screen that asks.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from backends.base import Backend, Health, LoadedModel

TIMEOUT_S = 5.0
NOT_STARTED = Health(False)


@dataclass(frozen=True)
class HealthReport:
    health: Health
    loaded: list[LoadedModel] = field(default_factory=list)
    note: str | None = None  # shown instead of a verdict ("the server starts on the first run")


def not_started(backend: Backend) -> bool:
    """A backend that runs its own server, before it started one: not down, just not there yet."""
    return backend.capabilities.owns_process and backend.pid is None


async def check(backend: Backend, *, timeout_s: float = TIMEOUT_S) -> Health:
    """The server's health; a failure to ask is an unhealthy answer, never an exception."""
    if not_started(backend):
        return NOT_STARTED
    try:
        async with asyncio.timeout(timeout_s):  # not wait_for: it can lose a stop (wire.light)
            return await backend.health()
    except Exception as e:
        return Health(False, f"health check failed ({type(e).__name__})")


async def loaded(backend: Backend, *, timeout_s: float = TIMEOUT_S) -> list[LoadedModel]:
    """What the server has loaded; [] when it cannot tell or does not answer in time."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout_s):
            return await backend.loaded()
    return []


async def report(backend: Backend, health: Health | None = None) -> HealthReport:
    """`check` (or the answer already in hand) with what is loaded when the server is healthy."""
    if not_started(backend):
        return HealthReport(NOT_STARTED, note="the server starts on the first run")
    health = health if health is not None else await check(backend)
    return HealthReport(health, await loaded(backend) if health.ok else [])
