"""Everything behind the UI: backends, patterns, the meter, results, hardware probes. Never imports textual."""
