"""run_playbook: plays in order; per play, hosts in parallel (bounded forks) in rolling
``serial`` batches, stopped when a batch exceeds ``max_fail_percentage``; a lock per inventory
and a journal of every task in the state store; a RunReport with the PLAY RECAP."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moefleet.errors import MoefleetError, TransportError
from moefleet.inventory.model import Host, Inventory
from moefleet.inventory.patterns import select_hosts
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
)
from moefleet.playbook.executor import HostRun, Journal, Shared
from moefleet.playbook.model import Play, Playbook, batch_sizes
from moefleet.playbook.result import HostStats, TaskResult
from moefleet.playbook.tasks import BenchHook, TaskContext
from moefleet.playbook.templating import render_value
from moefleet.state import StateStore
from moefleet.transport import ConnectOptions, connect, run_on_hosts


@dataclass(frozen=True)
class RunOptions:
    """How to run: modes and selections (the CLI's --check, --diff, --limit, --tags, -f)."""

    check: bool = False
    diff: bool = False
    limit: str | None = None
    tags: frozenset[str] = frozenset()
    skip_tags: frozenset[str] = frozenset()
    forks: int | None = None
    """Hosts worked on at once (default: the inventory's settings.forks)."""
    timeout: float = 120.0
    """Seconds each remote command may take unless a task says otherwise."""
    lock_key: str | None = None
    """What the lock is taken on (default: the inventory's path)."""


class StoreJournal(Journal):
    """Journal lines into the state store (secrets never reach it: messages name paths only)."""

    def __init__(self, state: StateStore, run_id: int) -> None:
        self.state, self.run_id = state, run_id

    def intent(self, host: str, key: str) -> None:
        self.state.journal(self.run_id, host, key, "intent", "running")

    def result(self, host: str, key: str, result: TaskResult, status: str | None = None) -> None:
        self.state.journal(self.run_id, host, key, "result", status or result.status,
                           result.message, result.backup)  # fmt: skip


@dataclass
class _Run:
    playbook: Playbook
    inventory: Inventory
    options: RunOptions
    connect_options: ConnectOptions
    extra_vars: Mapping[str, Any]
    host_vars: Mapping[str, Mapping[str, Any]]
    shared: Shared
    report: RunReport
    dead: set[str] = field(default_factory=set)
    registered: dict[str, dict[str, Any]] = field(default_factory=dict)

    def play(self, play: Play) -> bool:
        """Run one play; False when its rollout was stopped."""
        hosts = self._hosts(play)
        self.shared.emit(
            PlayStarted(self.report.run_id, play.name, tuple(hosts), self.options.check)
        )
        start = 0
        for size in batch_sizes(len(hosts), play.serial):
            batch = [self.inventory.hosts[name] for name in hosts[start : start + size]]
            start += size
            outcomes = run_on_hosts(batch, lambda h: self._host(play, h), self._forks())
            bad = 0
            for host in batch:
                bad += self._collect(
                    play, host.name, outcomes[host.name].value, outcomes[host.name].error
                )
            if (
                play.max_fail_percentage is not None
                and 100 * bad / len(batch) > play.max_fail_percentage
            ):
                rest = hosts[start:]
                self.report.aborted.append(play.name)
                self.report.not_run[play.name] = rest
                self.shared.emit(PlayFinished(self.report.run_id, play.name, True, tuple(rest)))
                return False
        self.shared.emit(PlayFinished(self.report.run_id, play.name, False, ()))
        return True

    def _hosts(self, play: Play) -> list[str]:
        chosen = select_hosts(self.inventory, play.hosts)
        if self.options.limit:
            limited = set(select_hosts(self.inventory, self.options.limit))
            chosen = [h for h in chosen if h in limited]
        return [h for h in chosen if h not in self.dead]

    def _forks(self) -> int:
        return self.options.forks or self.inventory.settings.forks

    def _host(self, play: Play, host: Host) -> HostRun | TaskRecord:
        """Connect and run the play on one host (an unreachable host is one record)."""
        try:
            transport = connect(host, self.connect_options)
        except TransportError as exc:
            result = TaskResult("unreachable", exc.message)
            self.shared.journal.result(host.name, f"{play.name}: connect", result)
            return TaskRecord(play.name, host.name, "connect", "connect", result)
        try:
            ctx = TaskContext(host.name, transport, self.options.check, self.options.diff,
                              self.options.timeout, Path(self.playbook.base_dir),
                              self.shared.bench_hook)  # fmt: skip
            run = HostRun(play, host.name, ctx, self._variables(play, host), self.shared)
            run.run()
            return run
        finally:
            transport.close()

    def _variables(self, play: Play, host: Host) -> dict[str, Any]:
        """inventory vars < play vars < registered < extra vars < the caller's per-host vars."""
        magic = {
            "inventory_hostname": host.name,
            "group_names": list(host.groups),
            "groups": {g: list(m) for g, m in self.inventory.groups.items()},
            "check_mode": self.options.check,
        }
        base = {**host.vars, **magic}
        extra = {**self.extra_vars, **self.host_vars.get(host.name, {})}
        play_vars = render_value(play.vars, {**base, **extra})
        return {**base, **play_vars, **self.registered.get(host.name, {}), **extra}

    def _collect(self, play: Play, name: str, value: Any, error: MoefleetError | None) -> int:
        """Fold one host's outcome into the report; 1 when the host failed or was unreachable."""
        stats = self.report.stats.setdefault(name, HostStats())
        if isinstance(value, TaskRecord):
            self._add(stats, value)
            self.shared.emit(_finished(self.report.run_id, value))
            self.dead.add(name)
            return 1
        if isinstance(value, HostRun):
            self.report.records += value.records
            self.registered.setdefault(name, {}).update(value.registered)
            for key, count in vars(value.stats).items():
                setattr(stats, key, getattr(stats, key) + count)
            if value.failed or value.unreachable:
                self.dead.add(name)
                return 1
            return 0
        message = error.message if error else "no result"
        self._add(
            stats,
            TaskRecord(play.name, name, "internal", "internal", TaskResult("failed", message)),
        )
        self.dead.add(name)
        return 1

    def _add(self, stats: HostStats, record: TaskRecord) -> None:
        stats.count(record.result)
        self.report.records.append(record)


def _finished(run_id: int | None, record: TaskRecord) -> Event:
    return TaskFinished(run_id, record.play, record.host, record.task, record.kind, record.result)


def run_playbook(
    playbook: Playbook,
    inventory: Inventory,
    *,
    options: RunOptions | None = None,
    connect_options: ConnectOptions | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
    state: StateStore | None = None,
    on_event: EventCallback | None = None,
    bench_hook: BenchHook | None = None,
) -> RunReport:
    """Run every play of ``playbook`` on ``inventory``; one result per host per task.

    With ``state``, the run takes the inventory's lock (LockHeldError if a live run holds it;
    a stale one is taken over with a warning) and journals every task. ``on_event`` is called
    from worker threads, one call at a time.
    """
    options = options or RunOptions()
    lock = threading.Lock()

    def emit(event: Event) -> None:
        if on_event is not None:
            with lock:
                on_event(event)

    run_id, journal, warnings = _open_run(state, options, inventory, playbook)
    report = RunReport(run_id, options.check, warnings=warnings)
    if state is not None and run_id is not None:
        report.interrupted = _interrupted(state, options.lock_key or inventory.source, run_id)
    for message in report.warnings + [f"interrupted earlier: {t}" for t in report.interrupted]:
        emit(RunWarning(run_id, message))
    shared = Shared(run_id, options.check, options.diff, options.timeout, options.tags,
                    options.skip_tags, playbook.base_dir, emit, journal, bench_hook)  # fmt: skip
    runner = _Run(playbook, inventory, options,
                  connect_options or ConnectOptions.from_settings(inventory.settings),
                  extra_vars or {}, host_vars or {}, shared, report)  # fmt: skip
    status = "error"
    try:
        for play in playbook.plays:
            if not runner.play(play):
                break
        status = "ok" if report.ok else ("aborted" if report.aborted else "failed")
    finally:
        if state is not None and run_id is not None:
            state.finish_run(run_id, status)
    report.stats = {h: report.stats[h] for h in inventory.hosts if h in report.stats}
    emit(Recap(run_id, report.stats))
    return report


def _open_run(
    state: StateStore | None, options: RunOptions, inventory: Inventory, playbook: Playbook
) -> tuple[int | None, Journal, list[str]]:
    if state is None:
        return None, Journal(), []
    run_id, warning = state.begin_run(options.lock_key or inventory.source, playbook.source)
    return run_id, StoreJournal(state, run_id), [warning] if warning else []


def _interrupted(state: StateStore, lock_key: str, run_id: int) -> list[str]:
    """Tasks the previous run on this key started but never finished (it was killed)."""
    previous = [r for r in state.runs(lock_key, limit=2) if r["id"] != run_id]
    if not previous or previous[0]["status"] != "interrupted":
        return []
    return [f"{e.host}: {e.task}" for e in state.interrupted_tasks(previous[0]["id"])]


__all__ = ["PlaybookError", "RunOptions", "run_playbook"]
