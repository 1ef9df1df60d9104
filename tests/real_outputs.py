"""Where the shared real captures live (read in place, never copied into the project).

``$MOEFLEET_REAL_OUTPUTS`` wins; else ``../shared/real-outputs`` beside the checkout. Tests
that need them skip when the directory is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
REAL_OUTPUTS = Path(
    os.environ.get("MOEFLEET_REAL_OUTPUTS", str(_REPO.parent / "shared" / "real-outputs"))
)
