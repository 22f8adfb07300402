"""The generated model: where the built-in models live, and how its replies are shaped on the real server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backends.base import ModelNotFound
from backends.servers.llamaserver import gguf_block_count
from backends.servers.tinymodel import MODEL_VERSION, SHAPES, builtin_model, resolve_model_path
from tests.conftest import RunningServer


def test_builtin_models_are_written_once_into_a_versioned_folder(tmp_path: Path) -> None:
    path = builtin_model("tiny", tmp_path)
    assert path == tmp_path / "models" / MODEL_VERSION / "gptoss-top-tiny.gguf"
    assert gguf_block_count(path) == SHAPES["tiny"].layers
    stamp = path.stat().st_mtime_ns
    assert builtin_model("tiny", tmp_path).stat().st_mtime_ns == stamp  # reused, not rewritten
    assert resolve_model_path("builtin:tiny", tmp_path) == str(path)
    # A model written by an older release sits outside the versioned folder and is never picked up.
    assert not (tmp_path / "models" / "gptoss-top-tiny.gguf").exists()


def test_an_unknown_builtin_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as e:
        builtin_model("huge", tmp_path)
    assert "no built-in model 'huge'" in str(e.value)
    assert e.value.hint is not None and "builtin:tiny" in e.value.hint


@pytest.mark.integration
def test_sampled_replies_reason_then_answer(llama_server: RunningServer) -> None:
    """The demo and the tests rely on both halves of a gpt-oss reply arriving within a short budget.

    Sampling has a tail (about 5 in 1,000 replies of 128 tokens stay in the reasoning), so the check
    allows a few; a model whose reasoning runs long (a quarter of replies with no answer) fails it.
    """
    shapes = []
    for seed in range(40):
        body = {"messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 128, "seed": seed}
        r = httpx.post(f"{llama_server.url}/v1/chat/completions", json=body, timeout=60)
        r.raise_for_status()
        msg = r.json()["choices"][0]["message"]
        reasoning, answer = msg.get("reasoning_content") or "", msg.get("content") or ""
        assert reasoning and reasoning == reasoning.upper(), (seed, reasoning)  # upper-case reasoning
        assert answer == answer.lower(), (seed, answer)  # lower-case answer
        shapes.append((seed, len(reasoning), len(answer.strip())))
    assert sum(1 for s in shapes if not s[2]) <= 3, shapes
    # Different seeds give different replies: the model samples, it does not recite.
    assert len({s[1] for s in shapes}) > 5, shapes
