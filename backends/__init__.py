"""Everything behind gptoss-top's UI: wire, servers, runs and hardware probes. Never imports textual."""

# The launcher (gptoss_top.py) reads this line to tell this package from another distribution's `backends`.
DISTRIBUTION = "gptoss-top"
