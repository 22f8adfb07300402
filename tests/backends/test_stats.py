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


def paced_run(made_s: list[float], every_s: float) -> Meter:
    """A meter fed as a paced reader feeds it: tokens made at `made_s`, read every `every_s` (the first at
    once), each read's tokens handled back to back."""
    clock = FakeClock()
    m = Meter(clock)
    m.start()
    start, last = clock.t, -1.0
    reads = [made_s[0]]
    while reads[-1] < made_s[-1]:  # every_s 0: each token read as it comes
        reads.append(reads[-1] + every_s if every_s > 0 else made_s[len(reads)])
    for read in reads:
        clock.t = start + read
        for _ in [t for t in made_s if last < t <= read]:
            m.on_event(ContentDelta("w"))
        last = read
    m.on_event(Finished("stop"))
    return m


@pytest.mark.parametrize("every_s", [0.05, 0.25])
def test_the_client_rate_of_a_run_that_slows_as_its_context_fills(every_s: float) -> None:
    # 256 tokens from 200/s down to 150/s (decode slows as the KV cache grows): the run's own rate is
    # its tokens after the first over its first-to-last time. Ending the span at the last exact read
    # (the read before the end) leaves out the slowest interval: +1.7 % at 250 ms; the tail at the
    # end's rate takes most of that off.
    gaps = [1 / (200 - 50 * i / 255) for i in range(255)]
    made = [sum(gaps[:i]) for i in range(256)]
    truth = 255 / made[-1]
    m = paced_run(made, every_s)
    got = m.figures().decode_tps_client
    assert got is not None
    counted, t = m._marks[-1]  # the last exact read
    without_tail = (counted - 1) / (t - m._t_first)  # type: ignore[operator]
    assert abs(got / truth - 1) < 0.008
    if every_s == 0.25:
        assert without_tail / truth - 1 > 0.015
        assert abs(got / truth - 1) < 0.5 * (without_tail / truth - 1)


def test_the_client_rate_of_a_steady_run_read_at_any_pace() -> None:
    made = [i / 120 for i in range(400)]  # 120 tok/s, 3.3 s
    for every_s in (0.0, 0.01, 0.05, 0.25, 1.0):
        assert paced_run(made, every_s).figures().decode_tps_client == pytest.approx(120.0, rel=0.005), every_s


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
