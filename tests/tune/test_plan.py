"""Where the tune starts: the fit's boundary for the pattern's model and this machine's memory."""

from __future__ import annotations

from backends.runs.fit import Budget
from backends.runs.patterns import Pattern, parse_patterns
from backends.runs.tune_driver import TuneSpec, plan_tune

GIB = 2**30


def pattern(**keys: object) -> Pattern:
    return parse_patterns({"patterns": [{"name": "A", "backend": "lmstudio", "model": "openai/gpt-oss-20b",
                                         "context_length": 4096, **keys}]}, "t").patterns[0]  # fmt: skip


def test_gpu_layers_start_at_the_largest_that_fits() -> None:
    plan = plan_tune(pattern(), TuneSpec(), budget=Budget(gpu_bytes=10 * GIB, host_bytes=64 * GIB))
    assert plan.values == tuple(range(25))  # gpt-oss-20b has 24 blocks: the built-in card says so
    assert plan.hint.max_fit is not None and 0 < plan.hint.max_fit < 24
    fits = plan.hint.max_fit
    sizes = [plan.predicted_gpu_bytes[v] or 0 for v in plan.values]
    assert sizes == sorted(sizes) and sizes[fits] <= 10 * GIB < sizes[fits + 1]
    assert plan.fit_source == "card"


def test_everything_fits_on_a_big_card() -> None:
    plan = plan_tune(pattern(), TuneSpec(), budget=Budget(gpu_bytes=80 * GIB, host_bytes=64 * GIB))
    assert plan.hint.max_fit == 24


def test_n_cpu_moe_starts_at_the_fewest_blocks_on_the_cpu_that_fit() -> None:
    plan = plan_tune(
        pattern(gpu_layers="max"), TuneSpec("n_cpu_moe"), budget=Budget(gpu_bytes=8 * GIB, host_bytes=64 * GIB)
    )
    assert plan.hint.max_fit is not None and 0 < plan.hint.max_fit <= 24
    sizes = [plan.predicted_gpu_bytes[v] or 0 for v in plan.values]
    assert sizes == sorted(sizes, reverse=True)  # more blocks' experts on the CPU: less on the GPU


def test_a_server_on_another_machine_gets_no_start_from_this_ones_memory() -> None:
    p = pattern(url="http://mini.local:1234")
    plan = plan_tune(p, TuneSpec(), snapshot=object())
    assert plan.hint.max_fit is None
    assert any("another machine" in n for n in plan.notes)
