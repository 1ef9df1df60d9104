"""One play on one host: tasks in order, loops, ``when``, ``register``, blocks with rescue and
always, notified handlers flushed at the end."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from moefleet.errors import TransportError
from moefleet.playbook.errors import PlaybookError
from moefleet.playbook.events import Event, TaskFinished, TaskRecord, TaskStarted
from moefleet.playbook.model import Play, Task
from moefleet.playbook.result import HostStats, TaskResult, failed, skipped
from moefleet.playbook.tasks import KINDS, TaskContext, TaskFailed
from moefleet.playbook.templating import condition, render_value

log = logging.getLogger(__name__)


class HostUnreachable(Exception):
    """The connection died mid-play: the host stops here."""


class Journal:
    """Where intents and results go (the state store, or nowhere)."""

    def intent(self, host: str, key: str) -> None:
        """Before a task acts."""

    def result(self, host: str, key: str, result: TaskResult, status: str | None = None) -> None:
        """After it acted (``status`` overrides, e.g. "unknown" on a timeout)."""


@dataclass
class Shared:
    """What every host of a run shares: modes, tags, where events and journal lines go."""

    run_id: int | None
    check: bool
    diff: bool
    timeout: float
    tags: frozenset[str]
    skip_tags: frozenset[str]
    base_dir: Any
    emit: Callable[[Event], None]
    journal: Journal
    bench_hook: Any = None


@dataclass
class HostRun:
    """The state of one host through one play."""

    play: Play
    host: str
    ctx: TaskContext
    variables: dict[str, Any]
    shared: Shared
    records: list[TaskRecord] = field(default_factory=list)
    stats: HostStats = field(default_factory=HostStats)
    notified: set[str] = field(default_factory=set)
    registered: dict[str, Any] = field(default_factory=dict)
    """Variables this play registered (they carry over to later plays, as in Ansible)."""
    failed: bool = False
    unreachable: bool = False
    _seq: int = 0

    def run(self) -> None:
        """Tasks, then handlers (not on a failed host); an unreachable host stops at once."""
        try:
            self.failed = self.run_tasks(self.play.tasks, frozenset())
            if not self.failed:
                for handler in self.play.handlers:
                    if handler.name in self.notified and self._run_one(handler, frozenset(), True):
                        self.failed = True
                        break
        except HostUnreachable:
            self.unreachable = True

    def run_tasks(self, tasks: list[Task], tags: frozenset[str]) -> bool:
        """Run ``tasks`` in order; True when one failed (and was not ignored)."""
        return any(self._run_one(task, tags, handler=False) for task in tasks)

    def _run_one(self, task: Task, inherited: frozenset[str], handler: bool) -> bool:
        tags = inherited | frozenset(task.tags)
        if task.kind == "block":
            return self._block(task, tags)
        if not handler and not self._selected(tags):
            return False
        result = self._task(task)
        self._record(task, result)
        if result.status == "unreachable":
            raise HostUnreachable
        return result.failed

    def _selected(self, tags: frozenset[str]) -> bool:
        if tags & self.shared.skip_tags:
            return False
        return not self.shared.tags or bool(tags & (self.shared.tags | {"always"}))

    def _block(self, task: Task, tags: frozenset[str]) -> bool:
        if task.when is not None and not self._when(task.when, self.variables):
            return False
        failures_before = self.stats.failed
        failed_now = self.run_tasks(task.block or [], tags)
        if failed_now and task.rescue:  # as in Ansible: the block's failure counts as rescued
            self.stats.rescued += 1
            self.stats.failed = failures_before
            failed_now = self.run_tasks(task.rescue, tags)
        always_failed = self.run_tasks(task.always, tags)
        return failed_now or always_failed

    def _task(self, task: Task) -> TaskResult:
        """Loop over items (or once), each with its ``when``; aggregate; register; notify."""
        self._seq += 1
        key = f"{self._seq} {task.title}"
        self.shared.emit(TaskStarted(self.shared.run_id, self.play.name, self.host, task.title,
                                     task.kind))  # fmt: skip
        try:
            items = self._items(task)
        except PlaybookError as exc:
            return failed(exc.message)
        self.shared.journal.intent(self.host, key)
        results = [self._item(task, item) for item in items]
        result = results[0] if task.loop is None else _aggregate(results, items, task.loop_var)
        if result.status == "failed" and task.ignore_errors:
            result = result.ignoring()
        unknown = "unknown" if result.data.get("timed_out") else None
        self.shared.journal.result(self.host, key, result, unknown)
        if task.register_:
            value = result.registered()
            self.variables[task.register_] = self.registered[task.register_] = value
        if result.changed:
            self.notified.update(task.notify)
        return result

    def _items(self, task: Task) -> list[Any]:
        if task.loop is None:
            return [None]
        items = render_value(task.loop, self.variables)
        if not isinstance(items, list | tuple):
            raise PlaybookError(
                f"loop of {task.title!r} is not a list (got {type(items).__name__})"
            )
        return list(items)

    def _item(self, task: Task, item: Any) -> TaskResult:
        variables = self.variables if task.loop is None else {**self.variables, task.loop_var: item}
        try:
            if task.when is not None and not self._when(task.when, variables):
                return skipped("condition false")
            model, function = KINDS[task.kind]
            args = model.model_validate(render_value(task.args, variables))
            self.ctx.timeout = task.timeout or self.shared.timeout
            return function(self.ctx, args, variables)
        except (TaskFailed, PlaybookError) as exc:
            return failed(str(exc))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            return failed(f"{task.kind}: bad arguments: {problems}")
        except TransportError as exc:
            if exc.kind == "timeout":
                return TaskResult("failed", f"timed out, outcome unknown: {exc.message}",
                                  data={"timed_out": True})  # fmt: skip
            return TaskResult("unreachable", exc.message)

    def _when(self, expression: str | bool, variables: Mapping[str, Any]) -> bool:
        return condition(expression, variables)

    def _record(self, task: Task, result: TaskResult) -> None:
        self.stats.count(result)
        self.records.append(TaskRecord(self.play.name, self.host, task.title, task.kind, result))
        self.shared.emit(TaskFinished(self.shared.run_id, self.play.name, self.host, task.title,
                                      task.kind, result))  # fmt: skip


def _aggregate(results: list[TaskResult], items: list[Any], loop_var: str) -> TaskResult:
    """One result for a looped task: failed > changed > ok > skipped (all skipped)."""
    per_item = [{**r.registered(), loop_var: item} for r, item in zip(results, items, strict=True)]
    data: dict[str, Any] = {"results": per_item}
    if any(r.data.get("timed_out") for r in results):
        data["timed_out"] = True
    statuses = {r.status for r in results}
    status = next(
        (s for s in ("unreachable", "failed", "changed", "ok") if s in statuses), "skipped"
    )
    messages = [r.message for r in results if r.status == status and r.message]
    diffs = [r.diff for r in results if r.diff]
    return TaskResult(
        status,  # type: ignore[arg-type]
        "; ".join(messages[:3]) + (f" (+{len(messages) - 3} more)" if len(messages) > 3 else ""),
        diff="".join(diffs) or None,
        data=data,
    )
