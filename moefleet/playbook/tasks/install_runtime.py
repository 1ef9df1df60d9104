"""``install_runtime``: an inference runtime (llama-server, vLLM ...) on the host.

One of four ways, each idempotent through a stamp in ``dest``:

- an existing binary is used (it exists and its ``--version`` mentions ``version``);
- ``src``: a prebuilt directory on the controller is uploaded: a tar stream over the command's
  stdin, unpacked beside ``dest`` and swapped in by rename (the previous tree stays as
  ``dest.moefleet-old``); the stamp is the tree's content hash;
- ``build``: llama.cpp built from a git ref or a tarball on the host (``install_build``);
- ``venv``: vLLM pip-installed into a virtualenv at ``dest`` (``install_venv``).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from pydantic import model_validator

from moefleet.playbook.result import TaskResult, changed, ok
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, home_path
from moefleet.playbook.tasks.install_build import BuildArgs, run_build
from moefleet.playbook.tasks.install_runtime_common import (
    STAMP,
    check_version,
    read_stamp,
    runtime_version,
    swap_in,
)
from moefleet.playbook.tasks.install_venv import VenvArgs, run_venv


class InstallRuntimeArgs(Args):
    """Arguments of ``install_runtime``."""

    binary: str
    """The runtime's executable: absolute, or relative to ``dest``."""
    dest: str | None = None
    """Directory on the host the runtime is installed into (``src``, ``build``, ``venv``)."""
    src: str | None = None
    """A prebuilt directory on the controller to upload (binaries and their libraries)."""
    version: str | None = None
    """Text the binary's ``--version`` output must contain to count as suitable."""
    build: BuildArgs | str | None = None
    """Build from source: ``{ git = URL, ref = "b6000" }`` or ``{ tarball = URL or file }``."""
    venv: VenvArgs | None = None
    """pip-install into a venv at ``dest``: ``{ package = "vllm==0.11.0", pip_args = [...] }``."""

    @model_validator(mode="after")
    def _one_way(self) -> InstallRuntimeArgs:
        ways = [k for k in ("src", "build", "venv") if getattr(self, k) not in (None, "")]
        if isinstance(self.build, str):  # a bare ref: run() says what to give instead
            return self
        if len(ways) > 1:
            raise ValueError(f"give one of src, build, venv (not {' and '.join(ways)})")
        if ways and self.dest is None:
            raise ValueError(f"{ways[0]} needs dest")
        if ways and ways[0] != "src" and self.binary.startswith(("/", "~")):
            raise ValueError(f"with {ways[0]}, binary is a path inside dest (e.g. llama-server)")
        return self

    def binary_path(self) -> str:
        if self.binary.startswith(("/", "~")) or self.dest is None:
            return self.binary
        return f"{self.dest.rstrip('/')}/{self.binary}"


def run(ctx: TaskContext, args: InstallRuntimeArgs) -> TaskResult:
    """Use what is there, or upload, build or pip-install it; verify the binary runs."""
    if isinstance(args.build, str):
        raise TaskFailed(
            f"build = {args.build!r}: a bare ref is not supported yet; give "
            f'build = {{ git = "URL", ref = {args.build!r} }} or {{ tarball = "URL or file" }}'
        )
    if args.build is not None and args.dest is not None:
        return run_build(ctx, args.build, args.dest.rstrip("/"), args.binary, args.version)
    if args.venv is not None and args.dest is not None:
        return run_venv(ctx, args.venv, args.dest.rstrip("/"), args.binary, args.version)
    binary = args.binary_path()
    if args.src is None:
        found = runtime_version(ctx, binary)
        if found is None:
            raise TaskFailed(f"{binary} not found on the host (and no src to upload)")
        check_version(binary, found, args.version)
        return ok(f"using {binary}", binary=binary, version=found)
    assert args.dest is not None
    tree = ctx.local_path(args.src)
    digest = tree_digest(tree)
    if read_stamp(ctx, args.dest) == digest:
        return ok(f"{args.dest} is up to date", binary=binary)
    if ctx.check:
        return changed(f"would upload {tree} to {args.dest}", binary=binary)
    _upload(ctx, tree, args.dest, digest)
    found = runtime_version(ctx, binary)
    if found is None:
        raise TaskFailed(f"uploaded {args.dest}, but {binary} does not run")
    check_version(binary, found, args.version)
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
    new = home_path(f"{dest}.moefleet-new")
    ctx.run_checked(
        f"rm -rf -- {new} && mkdir -p -- {new} && tar -xzf - -C {new} && "
        + swap_in(f"{dest}.moefleet-new", dest),
        f"unpacking into {dest}",
        timeout=max(ctx.timeout, 600),
        stdin=_tar(tree, digest),
    )
