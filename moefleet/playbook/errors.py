"""The playbook stage's error (a MoefleetError: one line and a hint)."""

from __future__ import annotations

from moefleet.errors import MoefleetError


class PlaybookError(MoefleetError):
    """A playbook file is malformed, or a task's arguments or expressions are wrong."""
