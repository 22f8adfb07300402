"""Where gptoss-top keeps its files (platformdirs), overridable for tests and scripts."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "gptoss-top"


def data_dir() -> Path:
    """Results live here. GPTOSS_TOP_DATA_DIR overrides."""
    return Path(os.environ.get("GPTOSS_TOP_DATA_DIR") or platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    """Generated demo models live here. GPTOSS_TOP_CACHE_DIR overrides."""
    return Path(os.environ.get("GPTOSS_TOP_CACHE_DIR") or platformdirs.user_cache_dir(APP))
