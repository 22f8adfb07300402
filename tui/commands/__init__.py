"""The subcommands of `gptoss-top`: one module each, with `register(subparsers)` and `run(args) -> int`."""
