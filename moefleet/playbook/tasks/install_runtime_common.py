"""What the ``install_runtime`` variants share: the stamp, the atomic swap, version checks."""

from __future__ import annotations

from moefleet.playbook.tasks.base import TaskContext, TaskFailed, home_path, quote

STAMP = ".moefleet-runtime"
"""The file in ``dest`` that says what was installed there (content hash, or build recipe)."""


def swap_in(staging: str, dest: str) -> str:
    """A shell snippet that renames ``staging`` to ``dest``, keeping ``dest.moefleet-old``."""
    s, d = home_path(staging), home_path(dest)
    return (
        f"rm -rf -- {d}.moefleet-old && {{ [ ! -e {d} ] || mv -- {d} {d}.moefleet-old; }} && "
        f"mv -- {s} {d}"
    )


def read_stamp(ctx: TaskContext, dest: str) -> str:
    """The stamp's text in ``dest`` ('' when there is none)."""
    return ctx.run(f"cat {home_path(dest)}/{STAMP} 2>/dev/null").stdout.strip()


def runtime_version(
    ctx: TaskContext, binary: str, libdir: str | None = None, strict: bool = False
) -> str | None:
    """The first lines of ``binary --version`` (stdout or stderr) on one line, None if missing.

    ``libdir`` goes first on ``LD_LIBRARY_PATH``, as the deploy's service environment does;
    ``strict`` fails the task when the binary exits non-zero (it cannot load, or crashes).
    """
    b = home_path(binary)
    env = ""
    if libdir is not None:
        env = f'LD_LIBRARY_PATH={home_path(libdir)}"${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" '
    result = ctx.run(
        f"[ -x {b} ] || exit 127; out=$({env}{b} --version 2>&1); rc=$?; "
        'printf "%s\\n" "$out" | head -n 5; exit $rc',
        timeout=300,
    )
    text = " ".join(result.stdout.split())[:200]
    if result.exit_code == 127 and not text:
        return None
    if strict and result.exit_code != 0:
        raise TaskFailed(f"{binary} --version failed (exit {result.exit_code}): {text[:160]}")
    return text


def check_version(binary: str, found: str, wanted: str | None) -> None:
    """Fail when ``wanted`` is given and ``binary``'s version text does not mention it."""
    if wanted and wanted not in found:
        raise TaskFailed(f"{binary} is not version {wanted!r} (it says: {found[:80]})")


def log_tail(ctx: TaskContext, log: str, lines: int = 15) -> str:
    """The last ``lines`` of a log on the host, joined for a one-paragraph message."""
    text = ctx.run(f"tail -n {int(lines)} {home_path(log)} 2>/dev/null").stdout.strip()
    return text or "(the log is empty)"


def env_exports(env: dict[str, str]) -> str:
    """``export K='v' ...; `` for a command line ('' when ``env`` is empty)."""
    if not env:
        return ""
    return "export " + " ".join(f"{key}={quote(value)}" for key, value in env.items()) + "; "
