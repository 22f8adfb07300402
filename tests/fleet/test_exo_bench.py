"""exo: server-timed rates from /bench/chat/completions when the pattern asks (server_stats =
"exo-bench"), the nodes from /state; against the fake exo API."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.probes.remote import HostSamplers, RemoteSampler, parse_source
from backends.runs.patterns import PatternError, load_patterns, parse_patterns
from backends.runs.session import BackendPool, RunContext
from backends.runs.sweep import run_sweep
from tests.fakes.exo import FakeExo

MODEL = "mlx-community/gpt-oss-20b-MXFP4-Q8"


async def test_a_pattern_that_asks_gets_exo_s_own_rates_and_its_nodes() -> None:
    with FakeExo() as exo:
        pf = parse_patterns({
            "hosts": {"cluster": {"telemetry": f"exo+{exo.url}"}},
            "patterns": [{"name": "X", "backend": "openai", "url": exo.url, "model": MODEL, "prompt": "R0 = 2.5?",
                          "max_tokens": 64, "server_stats": "exo-bench", "host": "cluster"}],
        }, "exo.toml")  # fmt: skip
        hosts = HostSamplers(None, {"cluster": f"exo+{exo.url}"}, interval_s=0.2)
        await hosts.start()
        pool = BackendPool(hosts={"cluster": f"exo+{exo.url}"})
        try:
            (rec,) = await run_sweep(pf.patterns, pool=pool, ctx=RunContext(sampler=hosts))
        finally:
            await pool.aclose()
            await hosts.stop()
        (body,) = exo.bench_requests
    assert body["stream"] is False and "stream_options" not in body and body["max_tokens"] == 64
    assert body["messages"][-1] == {"role": "user", "content": "R0 = 2.5?"}
    assert rec.ok, rec.error
    assert (rec.decode_tps, rec.prompt_tps, rec.stats_source) == (31.25, 410.5, "server")
    assert (rec.prompt_tokens, rec.completion_tokens) == (120, 64)
    assert rec.answer == "R0 = 2.5 → herd immunity at 60 %." and rec.reasoning.startswith("Herd immunity")
    assert (rec.host, rec.telemetry_source) == ("cluster", f"exo+{exo.url}")
    assert rec.peak_ram_used_bytes is not None and rec.peak_ram_used_bytes > 0  # the cluster's nodes


async def test_without_the_key_exo_is_streamed_as_usual() -> None:
    with FakeExo() as exo:
        pf = parse_patterns({"patterns": [{"name": "S", "backend": "openai", "url": exo.url, "model": MODEL,
                                           "prompt": "p"}]}, "exo.toml")  # fmt: skip
        pool = BackendPool()
        try:
            (rec,) = await run_sweep(pf.patterns, pool=pool)
        finally:
            await pool.aclose()
        assert exo.bench_requests == []  # it went to /v1/chat/completions, which the fake does not serve
    assert not rec.ok


def test_server_stats_takes_only_exo_bench(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    f.write_text('[[patterns]]\nname = "X"\nbackend = "openai"\nmodel = "m"\nprompt = "p"\n'
                 'server_stats = "exo"\n')  # fmt: skip
    with pytest.raises(PatternError) as e:
        load_patterns(f)
    assert f"{f}:6: server_stats 'exo' in pattern 'X' must be \"exo-bench\"" in str(e.value)


def test_an_exo_node_that_disappears_is_named_and_the_rest_still_count() -> None:
    with FakeExo() as exo:
        s = RemoteSampler(parse_source(f"exo+{exo.url}"))
        first = s.sample_now()
        exo.remove_node("12D3KooWmini1")
        second = s.sample_now()
    assert len(first.gpus) == 2 and len(second.gpus) == 1
    assert second.notes == ("exo node mac-mini-1 is gone from /state",)
    assert s.freshness().error is None
