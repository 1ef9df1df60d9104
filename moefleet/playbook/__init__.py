"""Playbooks: TOML plays of tasks with Ansible semantics (check/diff, handlers, serial
batches, block/rescue/always, recap), run over SSH on the inventory's hosts."""

from moefleet.playbook.errors import PlaybookError
from moefleet.playbook.events import (
    Event,
    EventCallback,
    PlayFinished,
    PlayStarted,
    Recap,
    RunReport,
    RunWarning,
    TaskFinished,
    TaskRecord,
    TaskStarted,
)
from moefleet.playbook.model import Play, Playbook, Task, batch_sizes, load_playbook, parse_playbook
from moefleet.playbook.result import HostStats, TaskResult
from moefleet.playbook.runner import RunOptions, run_playbook

__all__ = [
    "Event",
    "EventCallback",
    "HostStats",
    "Play",
    "PlayFinished",
    "PlayStarted",
    "Playbook",
    "PlaybookError",
    "Recap",
    "RunOptions",
    "RunReport",
    "RunWarning",
    "Task",
    "TaskFinished",
    "TaskRecord",
    "TaskResult",
    "TaskStarted",
    "batch_sizes",
    "load_playbook",
    "parse_playbook",
    "run_playbook",
]
