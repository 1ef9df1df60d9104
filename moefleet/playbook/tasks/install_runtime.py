"""``install_runtime``: an inference runtime (llama-server, vLLM ...) on the host.

Either an existing binary is used (``path`` exists and ``--version`` mentions ``version``), or a
prebuilt directory on the controller is uploaded: a tar stream over the command's stdin,
unpacked beside ``dest`` and swapped in by rename (the previous tree stays as
``dest.moefleet-old``). A stamp (the tree's content hash) makes re-runs no-ops. Building from
source is not supported yet: the task fails and says so.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from pydantic import model_validator

from moefleet.playbook.result import TaskResult, changed, ok
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, home_path

STAMP = ".moefleet-runtime"


class InstallRuntimeArgs(Args):
    """Arguments of ``install_runtime``."""

    binary: str
    """The runtime's executable: absolute, or relative to ``dest``."""
    dest: str | None = None
    """Directory on the host the prebuilt tree ``src`` is installed into."""
    src: str | None = None
    """A prebuilt directory on the controller to upload (binaries and their libraries)."""
    version: str | None = None
    """Text the binary's ``--version`` output must contain to count as suitable."""
    build: str | None = None
    """Building from source (git ref or tarball): not supported yet, fails clearly."""

    @model_validator(mode="after")
    def _src_needs_dest(self) -> InstallRuntimeArgs:
        if self.src is not None and self.dest is None:
            raise ValueError("src needs dest")
        return self

    def binary_path(self) -> str:
        if self.binary.startswith(("/", "~")) or self.dest is None:
            return self.binary
        return f"{self.dest.rstrip('/')}/{self.binary}"


def run(ctx: TaskContext, args: InstallRuntimeArgs) -> TaskResult:
    """Use what is there, or upload the prebuilt tree; verify the binary runs."""
    if args.build is not None:
        raise TaskFailed("install_runtime: building from source is not supported yet")
    binary = args.binary_path()
    if args.src is None:
        found = _version(ctx, binary)
        if found is None:
            raise TaskFailed(f"{binary} not found on the host (and no src to upload)")
        _check_version(binary, found, args.version)
        return ok(f"using {binary}", binary=binary, version=found)
    assert args.dest is not None
    tree = ctx.local_path(args.src)
    digest = tree_digest(tree)
    stamp = ctx.run(f"cat {home_path(args.dest)}/{STAMP} 2>/dev/null").stdout.strip()
    if stamp == digest:
        return ok(f"{args.dest} is up to date", binary=binary)
    if ctx.check:
        return changed(f"would upload {tree} to {args.dest}", binary=binary)
    _upload(ctx, tree, args.dest, digest)
    found = _version(ctx, binary)
    if found is None:
        raise TaskFailed(f"uploaded {args.dest}, but {binary} does not run")
    _check_version(binary, found, args.version)
    return changed(f"installed {tree.name} into {args.dest}", binary=binary, version=found)


def tree_digest(tree: Path) -> str:
    """sha256 over the tree's relative paths, modes and contents (controller side)."""
    if not tree.is_dir():
        raise TaskFailed(f"{tree} is not a directory on the controller")
    digest = hashlib.sha256()
    for path in sorted(tree.rglob("*")):
        digest.update(f"{path.relative_to(tree)}\0{path.lstat().st_mode:o}\0".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _tar(tree: Path, digest: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(tree, arcname=".")
        info = tarfile.TarInfo(f"./{STAMP}")
        info.size = len(digest)
        archive.addfile(info, io.BytesIO(digest.encode()))
    return buffer.getvalue()


def _upload(ctx: TaskContext, tree: Path, dest: str, digest: str) -> None:
    d = home_path(dest)
    ctx.run_checked(
        f'd={d}; rm -rf -- "$d.moefleet-new" && mkdir -p -- "$d.moefleet-new" && '
        f'tar -xzf - -C "$d.moefleet-new" && rm -rf -- "$d.moefleet-old" && '
        f'{{ [ ! -e "$d" ] || mv -- "$d" "$d.moefleet-old"; }} && mv -- "$d.moefleet-new" "$d"',
        f"unpacking into {dest}",
        timeout=max(ctx.timeout, 600),
        stdin=_tar(tree, digest),
    )


def _version(ctx: TaskContext, binary: str) -> str | None:
    """The first line of ``binary --version`` (stdout or stderr), None if it is missing."""
    b = home_path(binary)
    result = ctx.run(f"[ -x {b} ] || exit 127; {b} --version 2>&1 | head -n 5")
    if result.exit_code == 127:
        return None
    return " ".join(result.stdout.split())[:200]


def _check_version(binary: str, found: str, wanted: str | None) -> None:
    if wanted and wanted not in found:
        raise TaskFailed(f"{binary} is not version {wanted!r} (it says: {found[:80]})")
