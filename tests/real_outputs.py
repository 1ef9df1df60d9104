"""Where the shared real captures live (read in place, never copied into the project).

``$MOEFLEET_REAL_OUTPUTS`` wins; else ``../shared/real-outputs`` beside the checkout, else
this workplace's ``/work/shared/real-outputs``. Tests that need them skip when none exists.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_CANDIDATES = [_REPO.parent / "shared" / "real-outputs", Path("/work/shared/real-outputs")]


def _locate() -> Path:
    if "MOEFLEET_REAL_OUTPUTS" in os.environ:
        return Path(os.environ["MOEFLEET_REAL_OUTPUTS"])
    return next((path for path in _CANDIDATES if path.is_dir()), _CANDIDATES[0])


REAL_OUTPUTS = _locate()
