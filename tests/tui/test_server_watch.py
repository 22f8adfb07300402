"""The hardware view follows the selected pattern's server process as soon as it answers, not only
during runs: a `top` shows the server at rest, and the memory panel does not change shape (a layout
pass of the screen) just as a run begins to decode."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from backends.runs.patterns import Pattern
from tests.tui.conftest import StaticSampler
from tui.app import GptossTop


async def test_a_local_server_that_answers_is_watched_before_any_run(
    build: Callable[..., GptossTop], sampler: StaticSampler
) -> None:
    app = build()
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(50):
            if sampler.backend != (None, None):
                break
            await pilot.pause(0.02)
        assert sampler.backend == (None, 8080)  # found by its port: the server was not started by us
        assert not app.main.running and not app.services.records


async def test_a_server_of_another_machine_is_not(
    build: Callable[..., GptossTop], sampler: StaticSampler, patterns: list[Pattern]
) -> None:
    # A pattern of another host reaches its server through a loopback URL here (a tunnel); the
    # process is that host's, not this machine's.
    away = [dataclasses.replace(p, host="mini") for p in patterns]
    app = build(patterns=away)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert app.main.current is not None and app.main.current.host == "mini"
        assert sampler.backend == (None, None)
