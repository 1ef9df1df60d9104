"""Playbook output as text, Ansible's format: a line per task result and the PLAY RECAP.
Pure functions over events and reports; no printing here."""

from __future__ import annotations

from moefleet.playbook.events import (
    Event,
    PlayFinished,
    PlayStarted,
    RunReport,
    RunWarning,
    TaskFinished,
)
from moefleet.playbook.result import HostStats

_LABEL = {"ok": "ok", "changed": "changed", "failed": "fatal", "skipped": "skipping",
          "unreachable": "fatal"}  # fmt: skip


def event_line(event: Event, show_diff: bool = False) -> str | None:
    """One line (plus a diff) for a progress display; None for events it does not show."""
    if isinstance(event, PlayStarted):
        mode = " (check mode)" if event.check else ""
        return f"PLAY [{event.play or 'play'}]{mode} on {len(event.hosts)} host(s)"
    if isinstance(event, TaskFinished):
        result = event.result
        label = _LABEL[result.status]
        if result.ignored:
            label += " (ignored)"
        line = f"{label}: [{event.host}] {event.task}"
        if result.message:
            line += f" => {result.message}"
        if show_diff and result.diff:
            line += "\n" + result.diff.rstrip("\n")
        return line
    if isinstance(event, PlayFinished) and event.aborted:
        return f"PLAY [{event.play}] stopped: max_fail_percentage exceeded; not run: " + (
            ", ".join(event.not_run) or "none"
        )
    if isinstance(event, RunWarning):
        return f"[WARNING]: {event.message}"
    return None


def recap_line(host: str, stats: HostStats, width: int) -> str:
    """``host : ok=3 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0``."""
    counts = " ".join(
        f"{name}={getattr(stats, name):<4}"
        for name in ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    )
    return f"{host:<{width}} : {counts}".rstrip()


def recap_text(report: RunReport) -> str:
    """The PLAY RECAP block."""
    width = max((len(h) for h in report.stats), default=0)
    lines = ["PLAY RECAP " + "*" * 60]
    lines += [recap_line(h, s, width) for h, s in report.stats.items()]
    for play, hosts in report.not_run.items():
        lines.append(f"rollout of {play!r} stopped; not run on: {', '.join(hosts) or 'none'}")
    return "\n".join(lines)
