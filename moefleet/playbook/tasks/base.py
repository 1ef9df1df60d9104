"""What every task kind gets: the host's transport and the run's modes (check, diff)."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from moefleet.errors import TransportError
from moefleet.playbook.result import TaskResult
from moefleet.transport.base import CommandResult, Transport

BenchHook = Callable[[str, Mapping[str, Any]], TaskResult]
"""``hook(host_name, args) -> TaskResult``: what the ``bench`` task calls."""


class Args(BaseModel):
    """Base of every task kind's arguments: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class TaskContext:
    """One host during one task: run commands there, know the run's modes."""

    host: str
    transport: Transport
    check: bool = False
    diff: bool = False
    timeout: float = 120.0
    base_dir: Path = field(default_factory=Path.cwd)
    """Controller-side ``src`` paths are relative to this (the playbook's directory)."""
    bench_hook: BenchHook | None = None

    def run(
        self, command: str, timeout: float | None = None, stdin: bytes | None = None
    ) -> CommandResult:
        """Run a shell command line on the host."""
        return self.transport.run(command, timeout or self.timeout, stdin=stdin)

    def run_checked(
        self, command: str, what: str, timeout: float | None = None, stdin: bytes | None = None
    ) -> CommandResult:
        """Run and raise TaskFailed (with stderr) on a non-zero exit."""
        result = self.run(command, timeout, stdin)
        if result.exit_code != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise TaskFailed(f"{what} failed (exit {result.exit_code}): {' / '.join(detail)}")
        return result

    def local_path(self, path: str) -> Path:
        """A controller path, relative to the playbook's directory, ``~`` expanded."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


class TaskFailed(Exception):
    """Raised inside a task kind to fail the task with a message (caught by the runner)."""


def quote(value: str | Path | int) -> str:
    """Shell-quote one value for a remote command line."""
    return shlex.quote(str(value))


def argv(values: Sequence[str | Path | int]) -> str:
    """A remote command line from an argv list, every element quoted."""
    return " ".join(quote(v) for v in values)


def home_path(path: str) -> str:
    """A remote path for a shell: ``~/x`` becomes ``"$HOME"/x`` (quoted), others quoted."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + quote(path[2:])
    return quote(path)


__all__ = [
    "Args",
    "BenchHook",
    "TaskContext",
    "TaskFailed",
    "TransportError",
    "argv",
    "home_path",
    "quote",
]
