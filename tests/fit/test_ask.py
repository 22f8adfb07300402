"""Reading `lms load --estimate-only` in its current and older formats."""

from __future__ import annotations

from backends.runs.fit.ask import parse_lms_estimate, parse_size

GIB = 1 << 30


def test_current_format() -> None:
    text = """Model: openai/gpt-oss-20b
Context Length: 8192
GPU Offload: 96%
Estimated GPU Memory:   11.90 GiB
Estimated Total Memory: 12.47 GiB
Confidence: LOW

Estimate: This model will fail to load based on your resource guardrails settings.
"""
    assert parse_lms_estimate(text) == (int(11.90 * GIB), int(12.47 * GIB), "will fail to load", True)


def test_older_decimal_units() -> None:
    text = (
        "Estimated GPU Memory: 12.3 GB\nEstimated Total Memory: 13.1 GB\n\n"
        "Estimate: This model may be loaded based on your resource guardrails settings.\n"
    )
    assert parse_lms_estimate(text) == (12_300_000_000, 13_100_000_000, "may be loaded", False)


def test_sizes() -> None:
    assert parse_size(" 512 MiB") == 512 << 20 and parse_size("1.5 KiB") == 1536 and parse_size("nothing") is None
