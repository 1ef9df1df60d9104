"""``copy``: put content (or a controller file) at ``dest``, atomically, with a backup."""

from __future__ import annotations

from pydantic import model_validator

from moefleet.playbook.result import TaskResult, ok
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed
from moefleet.playbook.tasks.remote_file import (
    inspect,
    parse_mode,
    set_mode,
    sha256,
    unified_diff,
    write_atomic,
)


class CopyArgs(Args):
    """Arguments of ``copy`` (and, with ``src`` rendered first, of ``template``)."""

    dest: str
    """Path on the host (absolute, or ``~/...``)."""
    content: str | None = None
    """The file's text (exactly one of ``content`` and ``src``)."""
    src: str | None = None
    """A file on the controller (relative paths: from the playbook's directory)."""
    mode: str | int | None = None
    """Octal text ("0644") or an int (0o644); default 0644, 0600 for secrets."""
    owner: str | None = None
    """chown the file to this user (needs the right to do so)."""
    secret: bool = False
    """Created 0600 from the start; its content is never shown in diffs, logs or journals."""
    backup: bool = True
    """Keep the previous version as ``dest.moefleet-bak`` (hard link) for rollback."""

    @model_validator(mode="after")
    def _one_source(self) -> CopyArgs:
        if (self.content is None) == (self.src is None):
            raise ValueError("give exactly one of content and src")
        return self


def run(ctx: TaskContext, args: CopyArgs) -> TaskResult:
    """Copy ``content`` or the controller file ``src`` to ``dest``."""
    if args.content is not None:
        data = args.content.encode()
    else:
        assert args.src is not None
        try:
            data = ctx.local_path(args.src).read_bytes()
        except OSError as exc:
            raise TaskFailed(f"cannot read {args.src} on the controller: {exc}") from exc
    return put(ctx, args, data)


def put(ctx: TaskContext, args: CopyArgs, data: bytes) -> TaskResult:
    """Compare with what the host has (one command) and write only when different."""
    mode = parse_mode(args.mode, 0o600 if args.secret else 0o644)
    want_diff = ctx.diff and not args.secret
    current = inspect(ctx, args.dest, with_content=want_diff)
    digest = sha256(data)
    same_content = current.exists and current.sha256 == digest
    owner_differs = bool(args.owner and current.owner != args.owner)
    if same_content and current.mode == mode and not owner_differs:
        return ok(f"{args.dest} is up to date", dest=args.dest, sha256=digest)
    diff = None
    if args.secret and ctx.diff:
        diff = f"--- {args.dest}\n+++ {args.dest}\n(secret: content not shown)\n"
    elif want_diff and not same_content:
        diff = unified_diff(args.dest, current.content, data.decode("utf-8", "replace"))
    what = _describe(current.exists, same_content, current.mode, mode)
    if ctx.check:
        return TaskResult(
            "changed", f"would {what} {args.dest}", diff=diff, data={"dest": args.dest}
        )
    backup = None
    if same_content:
        set_mode(ctx, args.dest, mode, args.owner)
    else:
        backup = write_atomic(ctx, args.dest, data, mode, args.owner, args.backup)
    data_out = {"dest": args.dest, "sha256": digest, "created": not current.exists}
    return TaskResult("changed", f"{what} {args.dest}", diff=diff, backup=backup, data=data_out)


def _describe(exists: bool, same_content: bool, old_mode: int | None, mode: int) -> str:
    if not exists:
        return "create"
    if same_content:
        return f"chmod {old_mode or 0:o} -> {mode:o}"
    return "update"
