"""gptoss-top's terminal UI and its command line."""

# The launcher (gptoss_top.py) reads this line to tell this package from another distribution's `tui`.
DISTRIBUTION = "gptoss-top"
