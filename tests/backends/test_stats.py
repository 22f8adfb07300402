"""The meter with an injected clock: time is whatever the test says it is."""

from __future__ import annotations

import pytest

from backends.base import ContentDelta, Finished, ReasoningDelta, ServerStats
from backends.runs.stats import Meter


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_ttft_and_client_decode_rate() -> None:
    clock = FakeClock()
    m = Meter(clock)
    m.start()
    clock.t += 0.5  # prefill
    m.on_event(ReasoningDelta("a"))
    for _ in range(9):  # 9 more tokens, 0.1 s apart
        clock.t += 0.1
        m.on_event(ContentDelta("b"))
    m.on_event(Finished("length"))
    f = m.figures()
    assert f.ttft_client_s == pytest.approx(0.5)
    assert f.ttft_s == pytest.approx(0.5)  # no server figure: the client's
    assert f.ttft_answer_s == pytest.approx(0.6)
    assert f.decode_tps_client == pytest.approx(10.0)
    assert f.decode_tps == pytest.approx(10.0)
    assert f.stats_source == "client"
    assert f.completion_tokens == 10
    assert f.total_s == pytest.approx(1.4)
    assert f.finish_reason == "length"


def test_server_figures_are_preferred_and_the_client_uses_the_server_token_count() -> None:
    clock = FakeClock()
    m = Meter(clock)
    m.start()
    clock.t += 0.2
    m.on_event(ContentDelta("x"))
    clock.t += 1.0
    m.on_event(ContentDelta("y"))  # a final burst: two deltas carried 21 tokens
    m.on_event(ServerStats(completion_tokens=21, decode_tps=19.5, prompt_tps=300.0, prompt_tokens=40))
    m.on_event(Finished("stop"))
    f = m.figures()
    assert f.decode_tps == 19.5
    assert f.stats_source == "server"
    assert f.decode_tps_client == pytest.approx(20.0)  # (21 - 1) tokens over 1.0 s
    assert f.prompt_tps == 300.0 and f.prompt_tokens == 40


def test_a_paced_reader_does_not_slow_the_client_rate_down() -> None:
    # The server makes a token every 10 ms from t = 0 to 0.99 s (100 tokens); the client reads what
    # came every 100 ms (the first token at once), so the run's last tokens are read at 1.05 s, 60 ms
    # after the last one came. From first to last read that is 99 tokens in 1.05 s (94/s).
    clock = FakeClock()
    m = Meter(clock)
    m.start()
    start = clock.t
    made_ms = [10 * i for i in range(100)]
    read_ms = [0, *(50 + 100 * k for k in range(11))]
    last = -1
    for read in read_ms:
        clock.t = start + read / 1000
        for _ in [t for t in made_ms if last < t <= read]:
            m.on_event(ContentDelta("w"))  # a batch is handled back to back
        last = read
    m.on_event(Finished("stop"))
    assert m.figures().decode_tps_client == pytest.approx(100.0, rel=0.02)


def test_unknown_figures_are_none_not_zero() -> None:
    m = Meter(FakeClock())
    m.start()
    m.on_event(Finished("stop"))
    f = m.figures()
    assert f.decode_tps is None and f.decode_tps_client is None and f.ttft_s is None
    assert f.completion_tokens is None and f.prompt_tps is None


def test_live_rate_follows_a_window_and_falls_during_a_stall() -> None:
    clock = FakeClock()
    m = Meter(clock, window_s=1.0)
    m.start()
    assert m.live_tps() is None
    for _ in range(21):  # 20 tok/s for one second
        m.on_event(ContentDelta("t"))
        clock.t += 0.05
    clock.t -= 0.05
    assert m.live_tps() == pytest.approx(20.0)
    clock.t += 0.5  # nothing for half a second: the window still holds ~half the tokens
    rate = m.live_tps()
    assert rate is not None and rate < 15.0
    clock.t += 2.0
    assert m.live_tps() is None


def test_empty_deltas_are_not_tokens() -> None:
    m = Meter(FakeClock())
    m.start()
    m.on_event(ContentDelta(""))
    assert m.tokens == 0 and m.figures().ttft_s is None
