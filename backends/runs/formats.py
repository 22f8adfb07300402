"""What `bench --format`, `results --format` and the exports write: named apart from the run record, so
that building the command line (every command's options) does not define the record's dataclass."""

from __future__ import annotations

FORMATS = ("table", "markdown", "csv", "json")
