"""``file``: a directory exists, a path is absent, a mode is set, or a backup is restored."""

from __future__ import annotations

from typing import Literal

from moefleet.playbook.result import TaskResult, changed, ok
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, home_path, quote
from moefleet.playbook.tasks.remote_file import BACKUP_SUFFIX, parse_mode


class FileArgs(Args):
    """Arguments of ``file``."""

    path: str
    """Path on the host."""
    state: Literal["directory", "absent", "file", "restored"] = "file"
    """directory: create it (with parents); absent: remove it (recursively); file: it must
    exist (only ``mode`` is applied); restored: put the backup kept by copy/template back."""
    mode: str | int | None = None
    """Octal mode to apply (directory default 0755)."""
    backup: str | None = None
    """For ``restored``: the backup path a write registered; empty or unset when the write
    created the file (restoring then removes it). Default: ``path.moefleet-bak``."""


def _state(ctx: TaskContext, path: str) -> tuple[str, int | None]:
    """("dir" | "file" | "other" | "missing", mode) in one command."""
    out = ctx.run_checked(
        f'p={home_path(path)}; if [ -d "$p" ]; then echo dir; elif [ -f "$p" ]; then echo file;'
        f' elif [ -e "$p" ] || [ -L "$p" ]; then echo other; else echo missing; fi;'
        f' [ -e "$p" ] && stat -c %a -- "$p" || true',
        f"looking at {path}",
    ).stdout.split()
    return out[0], int(out[1], 8) if len(out) > 1 else None


def run(ctx: TaskContext, args: FileArgs) -> TaskResult:
    """Bring ``path`` to ``state``."""
    if args.state == "restored":
        return _restore(ctx, args)
    kind, mode = _state(ctx, args.path)
    p = home_path(args.path)
    if args.state == "absent":
        if kind == "missing":
            return ok(f"{args.path} is absent")
        return _act(ctx, f"remove {args.path}", f"rm -rf -- {p}")
    if args.state == "directory":
        want = parse_mode(args.mode, 0o755)
        if kind == "dir" and mode == want:
            return ok(f"{args.path} is a directory")
        if kind not in ("dir", "missing"):
            raise TaskFailed(f"{args.path} exists and is not a directory")
        return _act(
            ctx, f"directory {args.path} ({want:o})", f"mkdir -p -- {p} && chmod {want:o} -- {p}"
        )
    if kind == "missing":
        raise TaskFailed(f"{args.path} does not exist")
    if args.mode is None or mode == parse_mode(args.mode, 0):
        return ok(f"{args.path} is as wanted")
    want = parse_mode(args.mode, 0)
    return _act(ctx, f"chmod {want:o} {args.path}", f"chmod {want:o} -- {p}")


def _act(ctx: TaskContext, what: str, command: str) -> TaskResult:
    if ctx.check:
        return changed(f"would {what}")
    ctx.run_checked(command, what)
    return changed(what)


def _restore(ctx: TaskContext, args: FileArgs) -> TaskResult:
    """Rename the backup over the file (atomic); no backup recorded: remove the new file."""
    backup = args.path + BACKUP_SUFFIX if args.backup is None else args.backup
    p = home_path(args.path)
    if not backup:
        return _act(ctx, f"remove {args.path} (it did not exist before)", f"rm -f -- {p}")
    b = quote(backup) if not backup.startswith("~") else home_path(backup)
    present = ctx.run(f"[ -f {b} ] && echo yes || echo no").stdout.strip()
    if present != "yes":
        return ok(f"no backup {backup} to restore")
    return _act(ctx, f"restore {args.path} from {backup}", f"mv -f -- {b} {p}")
