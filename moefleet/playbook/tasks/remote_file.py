"""Files on a host: look at one in a single command, write one atomically with a backup."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass

from moefleet.playbook.tasks.base import TaskContext, TaskFailed, home_path, quote

BACKUP_SUFFIX = ".moefleet-bak"
_MISSING, _NOT_FILE = "MISSING", "NOTFILE"


@dataclass(frozen=True)
class RemoteFile:
    """What is at a path on the host now."""

    exists: bool
    mode: int | None = None
    owner: str | None = None
    sha256: str | None = None
    content: str | None = None
    """Fetched only when a diff is wanted and the file is not secret."""


def parse_mode(mode: str | int | None, default: int) -> int:
    """ "0644" / "644" (octal text) or an int (TOML 0o644) -> int."""
    if mode is None:
        return default
    if isinstance(mode, int):
        return mode
    try:
        return int(mode, 8)
    except ValueError as exc:
        raise TaskFailed(f"mode {mode!r} is not an octal number like '0644'") from exc


def inspect(ctx: TaskContext, path: str, with_content: bool) -> RemoteFile:
    """Mode, owner and sha256 of ``path`` (and its text if asked) in one remote command."""
    cat = ' && cat -- "$p"' if with_content else ""
    command = (
        f'p={home_path(path)}; if [ -f "$p" ]; then stat -c \'%a %U\' -- "$p" && '
        f'sha256sum < "$p" | cut -d\' \' -f1{cat}; elif [ -e "$p" ]; then echo {_NOT_FILE}; '
        f"else echo {_MISSING}; fi"
    )
    result = ctx.run_checked(command, f"reading {path}")
    return parse_inspect(result.stdout, path, with_content)


def parse_inspect(stdout: str, path: str, with_content: bool) -> RemoteFile:
    """Parse ``inspect``'s output (pure)."""
    head, _, rest = stdout.partition("\n")
    if head == _MISSING:
        return RemoteFile(exists=False)
    if head == _NOT_FILE:
        raise TaskFailed(f"{path} exists and is not a regular file")
    mode, _, owner = head.partition(" ")
    digest, _, content = rest.partition("\n")
    return RemoteFile(
        exists=True,
        mode=int(mode, 8),
        owner=owner,
        sha256=digest.strip(),
        content=content if with_content else None,
    )


def write_command(path: str, mode: int, owner: str | None, backup: bool) -> str:
    """The remote command that writes stdin to ``path`` atomically.

    The temporary file comes from ``mktemp`` in the target directory under umask 077, so it is
    0600 from the moment it exists (secrets are never readable by others, not even briefly);
    the previous version is hard-linked to ``path.moefleet-bak`` before the rename.
    """
    chmod = "" if mode == 0o600 else f'chmod {mode:o} -- "$t" && '
    chown = f'chown {quote(owner)} -- "$t" && ' if owner else ""
    keep = (
        f'if [ -f "$p" ]; then ln -f -- "$p" "$p{BACKUP_SUFFIX}" 2>/dev/null || '
        f'cp -p -- "$p" "$p{BACKUP_SUFFIX}" || exit 1; echo BACKUP; fi; '
        if backup
        else ""
    )
    return (
        f'p={home_path(path)}; d=$(dirname -- "$p"); mkdir -p -- "$d" || exit 1; umask 077; '
        f't=$(mktemp "$d/.moefleet.XXXXXX") || exit 1; trap \'rm -f -- "$t"\' EXIT; '
        f'cat > "$t" && {chmod}{chown}{keep}mv -f -- "$t" "$p" && trap - EXIT'
    )


def write_atomic(
    ctx: TaskContext, path: str, data: bytes, mode: int, owner: str | None, backup: bool
) -> str | None:
    """Write ``data`` to ``path`` (temp file + rename); the backup path if one was kept."""
    result = ctx.run_checked(
        write_command(path, mode, owner, backup), f"writing {path}", stdin=data
    )
    return path + BACKUP_SUFFIX if "BACKUP" in result.stdout.split() else None


def set_mode(ctx: TaskContext, path: str, mode: int, owner: str | None) -> None:
    """chmod (and chown) an existing file."""
    chown = f' && chown {quote(owner)} -- "$p"' if owner else ""
    ctx.run_checked(f'p={home_path(path)}; chmod {mode:o} -- "$p"{chown}', f"chmod {path}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unified_diff(path: str, before: str | None, after: str) -> str:
    """A unified diff from ``before`` (None: no file) to ``after``."""
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path} (before)" if before is not None else "/dev/null",
        tofile=f"{path} (after)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)  # fmt: skip
