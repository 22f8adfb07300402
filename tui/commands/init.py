"""`gptoss-top init`: write an annotated pattern file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui.commands.common import EXIT_OK, UsageError


def register(sub: Any) -> None:
    i = sub.add_parser("init", help="write an annotated pattern file")
    i.add_argument("path", nargs="?", default="gptoss-top.toml")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")


INIT_TEMPLATE = """\
# gptoss-top pattern file. Each [[patterns]] table is one test pattern; [defaults] apply to all.
# Run them:  gptoss-top bench {name}      Open them in the TUI:  gptoss-top --config {name}

[defaults]
backend = "lmstudio"                 # lmstudio | ollama | llamacpp | openai
url = "http://127.0.0.1:1234"        # LM Studio's default port; Ollama 11434, llama-server 8080
model = "openai/gpt-oss-20b"         # as the server names it (Ollama: "gpt-oss:20b")
prompt = "Explain in three sentences why the sky is blue."   # or: prompt_file = "prompt.txt"
max_tokens = 2048
reasoning_effort = "medium"          # low | medium | high
# repeat = 3                         # runs per pattern in a sweep (mean ± sd in the table)
# api_key_env = "LM_API_TOKEN"       # name of the variable holding the API key (never the key itself)

[[patterns]]
name = "A"
description = "all 24 layers on the GPU"
context_length = 4096
gpu_layers = 24                      # LM Studio's slider: 24 = all of gpt-oss-20b; or "max" / "off"

[[patterns]]
name = "B"
description = "one layer on the CPU"
context_length = 4096
gpu_layers = 23
"""


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    try:
        path.write_text(INIT_TEMPLATE.format(name=path.name), encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"wrote {path} — edit it, then: gptoss-top bench {path}")
    return EXIT_OK
