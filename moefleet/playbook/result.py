"""What a task did on one host (TaskResult) and the per-host recap counters (HostStats)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Status = Literal["ok", "changed", "failed", "skipped", "unreachable"]


@dataclass(frozen=True)
class TaskResult:
    """One task on one host: its status, a one-line message, and what ``register`` keeps."""

    status: Status
    message: str = ""
    diff: str | None = None
    """Unified diff of a written file (only with --diff; never for secrets)."""
    backup: str | None = None
    """Where the previous version of a written file was kept (for rollback)."""
    data: dict[str, Any] = field(default_factory=dict)
    """Kind-specific values for ``register`` (rc, stdout, status, sha256 ...)."""
    ignored: bool = False
    """Failed, but the task had ``ignore_errors``."""

    @property
    def changed(self) -> bool:
        return self.status == "changed"

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "unreachable") and not self.ignored

    def registered(self) -> dict[str, Any]:
        """The value ``register`` stores: the data plus status flags, Ansible style."""
        return {
            **self.data,
            "status": self.status,
            "changed": self.status == "changed",
            "failed": self.status == "failed",
            "skipped": self.status == "skipped",
            "msg": self.message,
            "backup": self.backup,
        }

    def ignoring(self) -> TaskResult:
        """This result, marked as an ignored failure."""
        return replace(self, ignored=True)


def ok(message: str = "", **data: Any) -> TaskResult:
    return TaskResult("ok", message, data=data)


def changed(message: str, **data: Any) -> TaskResult:
    return TaskResult("changed", message, data=data)


def failed(message: str, **data: Any) -> TaskResult:
    return TaskResult("failed", message, data=data)


def skipped(message: str) -> TaskResult:
    return TaskResult("skipped", message)


@dataclass
class HostStats:
    """One PLAY RECAP line."""

    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def count(self, result: TaskResult) -> None:
        """Add one task result (a changed task counts as ok too, as in Ansible)."""
        if result.ignored:
            self.ignored += 1
        elif result.status == "unreachable":
            self.unreachable += 1
        elif result.status == "failed":
            self.failed += 1
        elif result.status == "skipped":
            self.skipped += 1
        else:
            self.ok += 1
            self.changed += result.status == "changed"
