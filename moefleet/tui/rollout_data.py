"""Rows for the rollout screen from the run journal (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from moefleet.state import JournalEntry

_BAD = ("failed", "unreachable", "unknown")


@dataclass
class HostProgress:
    """One host's progress through a run."""

    host: str
    done: int = 0
    changed: int = 0
    failed: int = 0
    current: str = ""
    last_status: str = ""

    @property
    def troubled(self) -> bool:
        return self.failed > 0 or self.last_status in _BAD


def host_progress(entries: Sequence[JournalEntry]) -> list[HostProgress]:
    """Per host: results so far, changes, failures and what it is doing now; failed first."""
    hosts: dict[str, HostProgress] = {}
    for entry in entries:
        row = hosts.setdefault(entry.host, HostProgress(entry.host))
        if entry.phase == "intent":
            row.current = entry.task
            continue
        row.done += 1
        row.changed += entry.status == "changed"
        row.failed += entry.status in _BAD
        if entry.status != "skipped":  # a skipped task says nothing about the host
            row.last_status = entry.status
        row.current = ""
    return sorted(hosts.values(), key=lambda r: (not r.troubled, r.host))
