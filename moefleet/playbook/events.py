"""What a run reports while it runs (events, for the TUI and progress displays) and after
(RunReport with a PLAY RECAP). Events are plain frozen dataclasses; the callback is called
from worker threads, one call at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from moefleet.playbook.result import HostStats, TaskResult


@dataclass(frozen=True)
class PlayStarted:
    """A play begins on these hosts."""

    run_id: int | None
    play: str
    hosts: tuple[str, ...]
    check: bool


@dataclass(frozen=True)
class TaskStarted:
    """A task begins on one host."""

    run_id: int | None
    play: str
    host: str
    task: str
    kind: str


@dataclass(frozen=True)
class TaskFinished:
    """A task finished on one host (secrets never appear in ``result``)."""

    run_id: int | None
    play: str
    host: str
    task: str
    kind: str
    result: TaskResult


@dataclass(frozen=True)
class PlayFinished:
    """A play ended; ``aborted`` when max_fail_percentage stopped the rollout."""

    run_id: int | None
    play: str
    aborted: bool
    not_run: tuple[str, ...]


@dataclass(frozen=True)
class RunWarning:
    """Something the operator should know (a stale lock taken over, an interrupted run)."""

    run_id: int | None
    message: str


@dataclass(frozen=True)
class Recap:
    """The run is over: per-host counters, in inventory order."""

    run_id: int | None
    stats: dict[str, HostStats]


Event = PlayStarted | TaskStarted | TaskFinished | PlayFinished | RunWarning | Recap
EventCallback = Callable[[Event], None]


@dataclass(frozen=True)
class TaskRecord:
    """One task's result on one host, in the order it ran."""

    play: str
    host: str
    task: str
    kind: str
    result: TaskResult


@dataclass
class RunReport:
    """A whole run: every result, the recap counters, what stopped or was interrupted."""

    run_id: int | None
    check: bool
    records: list[TaskRecord] = field(default_factory=list)
    stats: dict[str, HostStats] = field(default_factory=dict)
    aborted: list[str] = field(default_factory=list)
    """Plays stopped by max_fail_percentage."""
    not_run: dict[str, list[str]] = field(default_factory=dict)
    """Play -> hosts it never reached (rollout stopped before their batch)."""
    interrupted: list[str] = field(default_factory=list)
    """"host: task" of the previous run that started but never finished (it was killed)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No host failed or was unreachable, and no rollout was stopped."""
        bad = any(s.failed or s.unreachable for s in self.stats.values())
        return not bad and not self.aborted

    @property
    def changed(self) -> int:
        """Changed tasks over all hosts (0 on an idempotent re-run)."""
        return sum(s.changed for s in self.stats.values())

    def for_host(self, host: str) -> list[TaskRecord]:
        """The records of one host, in order."""
        return [r for r in self.records if r.host == host]

    def find(self, host: str, task: str) -> TaskResult:
        """The (last) result of the task titled ``task`` on ``host``."""
        for record in reversed(self.records):
            if record.host == host and record.task == task:
                return record.result
        raise KeyError(f"{host}: no task {task!r}")
