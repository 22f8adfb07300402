"""How often the generated model reaches its answer: seeded replies on the real llama-server.

The built-in models reason (upper case, `reasoning_content`) and then answer (lower case, `content`);
how soon the reasoning ends is set by `think_end_logit`. Tests and the demo need both halves within
a short budget. For each setting given, this writes a tiny model, starts llama-server on it, samples
`--replies` seeded replies of `--max-tokens` tokens and counts those with no answer.

    .venv/bin/python -m benchmarks.tinymodel_answers [--logits 0.5 1.5] [--replies 1000] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

import httpx

from backends.servers.llamaserver import ManagedServer, ServerConfig, find_server_binary
from backends.servers.tinymodel import SHAPES, write_model


def sample(logit: float, replies: int, max_tokens: int, folder: Path) -> tuple[int, list[int]]:
    model = write_model(folder / f"tiny-{logit}.gguf", SHAPES["tiny"], think_end_logit=logit)
    server = ManagedServer(ServerConfig(str(model), 4096, "0", threads=2), find_server_binary())
    try:
        asyncio.run(server.start(timeout_s=60))
        no_answer, lengths = 0, []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for seed in range(replies):
                body = {"messages": [{"role": "user", "content": "Tell me a story."}],
                        "max_tokens": max_tokens, "seed": seed}  # fmt: skip
                msg = client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
                no_answer += not (msg.get("content") or "").strip()
                lengths.append(len(msg.get("reasoning_content") or ""))
        return no_answer, lengths
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logits", type=float, nargs="+", default=[0.5, 1.5])
    ap.add_argument("--replies", type=int, default=1000)
    ap.add_argument("--max-tokens", type=int, default=128)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for logit in a.logits:
            missing, lengths = sample(logit, a.replies, a.max_tokens, Path(tmp))
            lengths.sort()
            print(f"think_end_logit {logit}: {missing} of {a.replies} replies of {a.max_tokens} tokens had no answer; "
                  f"reasoning characters median {statistics.median(lengths):.0f}, "
                  f"p90 {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}")  # fmt: skip


if __name__ == "__main__":
    main()
