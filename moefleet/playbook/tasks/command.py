"""``command``: run a program (argv, no shell unless asked), idempotent with creates/removes."""

from __future__ import annotations

from pydantic import model_validator

from moefleet.playbook.result import TaskResult, changed, failed, ok, skipped
from moefleet.playbook.tasks.base import Args, TaskContext, argv, home_path


class CommandArgs(Args):
    """Arguments of ``command``."""

    argv: list[str] | None = None
    """The program and its arguments; each is quoted, no shell sees them."""
    cmd: str | None = None
    """A shell command line (only with ``shell = true``)."""
    shell: bool = False
    """Run ``cmd`` through /bin/sh (pipes, globs, variables)."""
    creates: str | None = None
    """Skip when this path exists (the command already did its work)."""
    removes: str | None = None
    """Skip unless this path exists."""
    chdir: str | None = None
    """Run in this directory."""
    timeout: float | None = None
    """Seconds before the command counts as timed out (default: the run's)."""

    @model_validator(mode="after")
    def _one_form(self) -> CommandArgs:
        if self.shell != (self.cmd is not None) or (self.argv is None) == (self.cmd is None):
            raise ValueError("give argv, or cmd with shell = true")
        if self.argv is not None and not self.argv:
            raise ValueError("argv must not be empty")
        return self


def run(ctx: TaskContext, args: CommandArgs) -> TaskResult:
    """Run it unless creates/removes say it is done; rc != 0 fails."""
    guard = _guard(ctx, args)
    if guard is not None:
        return guard
    line = args.cmd if args.cmd is not None else argv(args.argv or [])
    if ctx.check:
        return skipped(f"would run: {_short(line)} (commands do not run in check mode)")
    if args.chdir:
        line = f"cd {home_path(args.chdir)} && {line}"
    result = ctx.run(line, args.timeout)
    data = {"rc": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
    if result.exit_code != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        return failed(f"exit {result.exit_code}: {tail[0]}", **data)
    return changed(f"ran {_short(line)}", **data)


def _guard(ctx: TaskContext, args: CommandArgs) -> TaskResult | None:
    for path, skip_if in ((args.creates, True), (args.removes, False)):
        if path is None:
            continue
        exists = ctx.run(f"[ -e {home_path(path)} ]").exit_code == 0
        if exists == skip_if:
            reason = "exists" if skip_if else "does not exist"
            return ok(f"skipped: {path} {reason}", rc=0, stdout="", stderr="")
    return None


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
