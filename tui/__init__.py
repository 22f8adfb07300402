"""The terminal UI and the `gptoss-top` command line."""
