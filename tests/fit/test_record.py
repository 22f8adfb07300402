"""The prediction and the server's loaded figures in the run record; estimates for the pattern list."""

from __future__ import annotations

from pathlib import Path

from backends.probes.model import HostSample, Snapshot
from backends.runs.fit.record import estimate_many, fill_record
from backends.runs.patterns import load_patterns
from backends.runs.record import RunRecord
from backends.servers.llamaserver_log import read_log
from tests.fit.conftest import DATA

REPO = Path(__file__).resolve().parent.parent.parent
MIB = 1 << 20
HOST = Snapshot(0.0, host=HostSample(mem_total_bytes=32 << 30, mem_available_bytes=24 << 30))


class Sampler:
    latest = HOST


def record(backend: str = "llamacpp") -> RunRecord:
    return RunRecord("A", backend, "http://127.0.0.1:1", "gpt-oss-20b", 4096, 24, 1, "2026-01-01T00:00:00Z")


def test_estimate_many_marks_every_demo_pattern() -> None:
    pats = load_patterns(REPO / "configs" / "demo.toml").patterns
    ests = estimate_many(pats, HOST)
    assert list(ests) == [p.name for p in pats]
    assert {e.verdict for e in ests.values()} == {"fits"} and {e.source for e in ests.values()} == {"gguf"}


def test_estimate_many_gives_the_reason_for_a_model_it_cannot_read(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[[patterns]]\nname = "X"\nbackend = "lmstudio"\nurl = "http://10.9.9.9:1"\nmodel = "phi-4"\n')
    [est] = estimate_many(load_patterns(f).patterns, HOST).values()
    assert est.verdict == "unknown" and "phi-4: cannot tell what the model is made of" in est.notes[0]


async def test_fill_record_predicts() -> None:
    pat = load_patterns(REPO / "configs" / "gpt-oss-20b.toml").patterns[0]
    rec = record()
    est = await fill_record(rec, pat, Sampler())
    assert rec.fit_source == "card" and rec.fit_verdict == est.verdict == "fits"  # no GPU here: CPU only
    assert rec.predicted_host_bytes == est.host_bytes and rec.predicted_gpu_bytes == 0


def test_a_managed_servers_buffers_from_its_log(tmp_path: Path) -> None:
    """What a managed llama-server reports as loaded (`LoadedModel.gpu_bytes`, `host_bytes`)."""
    log = tmp_path / "server.log"
    log.write_text((DATA / "gpt-oss-20b_rocm_ngl99.log").read_text() + (DATA / "gpt-oss-20b_compute.log").read_text())
    mem = read_log(str(log))
    assert mem is not None
    assert abs(mem.gpu_bytes - (10949.38 + 456.98) * MIB) < 2
    assert abs(mem.host_bytes() - (586.82 + 263.15) * MIB) < 2


def test_estimate_many_uses_each_patterns_host() -> None:
    f_toml = {"patterns": [
        {"name": "here", "backend": "lmstudio", "model": "openai/gpt-oss-20b", "context_length": 4096},
        {"name": "mini", "backend": "lmstudio", "model": "openai/gpt-oss-20b", "context_length": 4096, "host": "mini"},
    ], "hosts": {"mini": {"telemetry": "agent+http://127.0.0.1:9"}}}  # fmt: skip
    from backends.runs.patterns import parse_patterns

    pats = parse_patterns(f_toml, "test").patterns
    small = Snapshot(0.0, host=HostSample(mem_total_bytes=8 << 30, mem_available_bytes=4 << 30))
    ests = estimate_many(pats, snapshot_for=lambda p: small if p.host == "mini" else HOST)
    assert (ests["here"].verdict, ests["mini"].verdict) == ("fits", "swap")
