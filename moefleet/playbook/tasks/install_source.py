"""Sources for ``install_runtime``'s build: a git repository at a ref, or a tarball.

A git source is fetched shallow (``git fetch --depth 1 origin REF``) into a checkout kept on the
host, so the next ref costs a small fetch and an incremental build; refs a shallow fetch cannot
name (a short commit id) fall back to a full fetch. A tarball is an ``http(s)://`` URL fetched on
the host (curl, else wget, else python3) or a file on the controller pushed over the
connection; a single top-level directory in it (GitHub's archives) is stripped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from moefleet.playbook.tasks.base import TaskContext, TaskFailed, home_path, quote

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA = re.compile(r"[0-9a-f]{4,39}")


@dataclass(frozen=True)
class BuildPaths:
    """Where one runtime's build lives on the host, beside its ``dest``."""

    dest: str

    @property
    def work(self) -> str:
        return f"{self.dest}.moefleet-build"

    @property
    def src(self) -> str:
        return f"{self.work}/src"

    @property
    def build(self) -> str:
        return f"{self.work}/build"

    @property
    def log(self) -> str:
        return f"{self.work}/build.log"

    @property
    def tarball(self) -> str:
        return f"{self.work}/source.tar"

    @property
    def staging(self) -> str:
        return f"{self.dest}.moefleet-new"


def is_url(tarball: str) -> bool:
    """True for a tarball fetched on the host (http or https), False for a controller file."""
    return tarball.startswith(("http://", "https://"))


def pick_commit(ls_remote: str, ref: str) -> str | None:
    """The commit ``ref`` names in ``git ls-remote`` output (tags peeled), None if absent.

    Looked up as git's rev-parse would: the ref itself when it is a full name, then
    ``refs/tags/REF`` (its ``^{}`` line, the commit of an annotated tag, first), then
    ``refs/heads/REF``.
    """
    refs: dict[str, str] = {}
    for line in ls_remote.splitlines():
        sha, _, name = line.partition("\t")
        if name:
            refs[name.strip()] = sha.strip()
    for name in (
        f"{ref}^{{}}",
        ref,
        f"refs/tags/{ref}^{{}}",
        f"refs/tags/{ref}",
        f"refs/heads/{ref}",
    ):
        if name in refs:
            return refs[name]
    return None


def resolve_git(ctx: TaskContext, url: str, ref: str, env: str = "") -> str | None:
    """The commit ``ref`` names in ``url``, asked without fetching (``git ls-remote``).

    None when only a fetch can tell (a short commit id) or when git is missing (the build's
    preflight then says so). A ref the repository does not have fails the task.
    """
    if _FULL_SHA.fullmatch(ref):
        return ref
    result = ctx.run(f"{env}git ls-remote -- {home_path(url)} {quote(ref)}", timeout=120)
    if result.exit_code == 127:
        return None
    if result.exit_code != 0:
        detail = " / ".join(result.stderr.strip().splitlines()[-3:])
        raise TaskFailed(f"cannot read {url} (git ls-remote, exit {result.exit_code}): {detail}")
    commit = pick_commit(result.stdout, ref)
    if commit is None and not _SHORT_SHA.fullmatch(ref):
        raise TaskFailed(f"{url} has no branch or tag {ref!r}; nothing was built")
    return commit


def checkout_git(
    ctx: TaskContext, paths: BuildPaths, url: str, ref: str, timeout: float, env: str = ""
) -> str:
    """Fetch ``ref`` of ``url`` into the kept checkout, check it out; its commit id."""
    s, r, log = home_path(paths.src), quote(ref), home_path(paths.log)
    script = (
        f"{env}{{ [ -d {s}/.git ] || git init -q {s}; }} && "
        f"{{ git -C {s} remote remove origin 2>/dev/null; "
        f"git -C {s} remote add origin {home_path(url)}; }} && "
        f"{{ {{ git -C {s} fetch -q --depth 1 origin {r} && "
        f"git -C {s} checkout -q --force FETCH_HEAD; }} || "
        f"{{ git -C {s} fetch -q --tags $([ -f {s}/.git/shallow ] && echo --unshallow) "
        f"origin '+refs/heads/*:refs/remotes/origin/*' && "
        f"git -C {s} checkout -q --force {r}; }}; }} >> {log} 2>&1 && "
        f"git -C {s} rev-parse HEAD"
    )
    result = ctx.run(script, timeout=timeout)
    if result.exit_code != 0:
        raise TaskFailed(f"cannot check out {ref!r} of {url}")
    return result.stdout.strip().splitlines()[-1]


def local_digest(path: Path) -> str:
    """sha256 of a controller file (streamed)."""
    if not path.is_file():
        raise TaskFailed(f"{path} is not a file on the controller")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, t: str) -> str:
    """A command that downloads ``url`` to the file ``t`` (shell-ready) with what the host has."""
    u = quote(url)
    return (
        f"if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 2 -o {t} {u}; "
        f"elif command -v wget >/dev/null 2>&1; then wget -q -O {t} {u}; "
        "else python3 -c 'import shutil, sys, urllib.request as u; "
        f'shutil.copyfileobj(u.urlopen(sys.argv[1]), open(sys.argv[2], "wb"))\' {u} {t}; fi'
    )


def remote_digest(ctx: TaskContext, url: str, env: str = "") -> str:
    """sha256 of what ``url`` serves, hashed on the host (the download is not kept)."""
    script = (
        f'{env}t=$(mktemp) && {{ {_download(url, "$t")}; }} && sha256sum < "$t"; '
        f'rc=$?; rm -f -- "$t"; exit $rc'
    )
    result = ctx.run(script, 600)
    if result.exit_code != 0:
        raise TaskFailed(f"cannot fetch {url} on the host: {result.stderr.strip()[-200:]}")
    return result.stdout.split()[0]


def fetch_tarball(
    ctx: TaskContext, paths: BuildPaths, tarball: str, timeout: float, env: str = ""
) -> str:
    """Put the tarball at ``paths.tarball`` (download on the host or push); its sha256."""
    t = home_path(paths.tarball)
    if is_url(tarball):
        ctx.run_checked(env + _download(tarball, t), f"downloading {tarball}", timeout)
    else:
        data = ctx.local_path(tarball).read_bytes()
        ctx.run_checked(f"cat > {t}", f"pushing {tarball}", timeout, stdin=data)
    return ctx.run_checked(f"sha256sum < {t}", "hashing the tarball").stdout.split()[0]


def unpack_tarball(ctx: TaskContext, paths: BuildPaths, timeout: float) -> None:
    """A fresh source tree from the tarball (one top-level directory stripped)."""
    s, t = home_path(paths.src), home_path(paths.tarball)
    ctx.run_checked(
        f"rm -rf -- {s} {s}.x && mkdir -p -- {s}.x && tar -xf {t} -C {s}.x && "
        f"n=$(ls -A {s}.x | wc -l) && one=$(ls -A {s}.x | head -n 1) && "
        f'if [ "$n" -eq 1 ] && [ -d {s}.x/"$one" ]; then mv -- {s}.x/"$one" {s} && rmdir {s}.x; '
        f"else mv -- {s}.x {s}; fi",
        "unpacking the tarball",
        timeout,
    )
