"""``fetch_model``: a model file on the host, verified by size and sha256.

Sources: pushed from the controller over SFTP (``src``), downloaded on the host from an HTTP(S)
URL (``url``, e.g. a LAN mirror) or a Hugging Face file (``hf_repo`` + ``hf_file``). Data lands
in ``dest.part`` and is appended to from its current size (resume); a short ``dest`` left by an
earlier copy counts as a partial too. Free disk is checked before any byte moves. A verified
file gets a ``dest.moefleet-sha256`` stamp (size, mtime, sha256), so re-runs do not re-hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from moefleet.playbook.result import TaskResult, changed, ok
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, home_path, quote

STAMP = ".moefleet-sha256"
_DOWNLOAD = r"""
import sys, os, urllib.request
url, part = sys.argv[1], sys.argv[2]
have = os.path.getsize(part) if os.path.exists(part) else 0
headers = {"Range": "bytes=%d-" % have} if have else {}
with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
    append = have > 0 and r.status == 206
    with open(part, "ab" if append else "wb") as f:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)
print("resumed" if append else "full")
"""


class FetchModelArgs(Args):
    """Arguments of ``fetch_model``."""

    dest: str
    """Path of the model file on the host."""
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    """Expected SHA-256 of the whole file (hex)."""
    size: int | None = Field(default=None, ge=0)
    """Expected size in bytes (default: the size of ``src``; required for downloads)."""
    src: str | None = None
    """A file on the controller, pushed over SFTP."""
    url: str | None = None
    """An HTTP(S) URL the host downloads from (python3 on the host, Range resume)."""
    hf_repo: str | None = None
    """A Hugging Face repository ("org/name"), with ``hf_file``: downloaded on the host."""
    hf_file: str | None = None
    """The file inside ``hf_repo``."""
    revision: str = "main"
    """Hugging Face revision (branch, tag or commit)."""
    timeout: float = 3600.0
    """Seconds the transfer may take."""

    @model_validator(mode="after")
    def _one_source(self) -> FetchModelArgs:
        sources = [self.src is not None, self.url is not None, self.hf_repo is not None]
        if sum(sources) != 1:
            raise ValueError("give exactly one of src, url and hf_repo")
        if self.hf_repo is not None and not self.hf_file:
            raise ValueError("hf_repo needs hf_file")
        if self.src is None and self.size is None:
            raise ValueError("downloads need size (for the disk check)")
        return self

    def download_url(self) -> str | None:
        if self.hf_repo is not None:
            return f"https://huggingface.co/{self.hf_repo}/resolve/{self.revision}/{self.hf_file}"
        return self.url


@dataclass(frozen=True)
class OnHost:
    """What the host has: sizes (-1: missing), dest mtime, free bytes, the stamp line."""

    dest_size: int
    dest_mtime: int
    part_size: int
    free: int
    stamp: str


def _look(ctx: TaskContext, dest: str) -> OnHost:
    p = home_path(dest)
    out = ctx.run_checked(
        f'p={p}; d=$(dirname -- "$p"); while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done; '
        f"s() {{ stat -c '%s %Y' -- \"$1\" 2>/dev/null || echo '-1 0'; }}; "
        f'echo $(s "$p") $(s "$p.part") $(df -Pk -- "$d" | awk \'NR==2{{print $4}}\'); '
        f'cat -- "$p{STAMP}" 2>/dev/null || true',
        f"looking at {dest}",
    ).stdout
    head, _, stamp = out.partition("\n")
    fields = head.split()
    return OnHost(int(fields[0]), int(fields[1]), int(fields[2]), int(fields[4]) * 1024,
                  stamp.strip())  # fmt: skip


def run(ctx: TaskContext, args: FetchModelArgs) -> TaskResult:
    """Skip when present and valid; else check disk, transfer (resuming), verify, rename."""
    size = args.size if args.size is not None else _local(ctx, args).stat().st_size
    sha = args.sha256.lower()
    state = _look(ctx, args.dest)
    p = home_path(args.dest)
    stamped = state.stamp == f"{size} {state.dest_mtime} {sha}"
    if state.dest_size == size and (stamped or _verify(ctx, p, sha, stamp=True)):
        return ok(f"{args.dest} present and verified", dest=args.dest, sha256=sha)
    offset = _resume_offset(ctx, p, state, size)
    need = size - offset
    if state.free < need:
        raise TaskFailed(
            f"not enough disk for {args.dest}: needs {_gib(need)}, {_gib(state.free)} free "
            "(nothing was transferred)"
        )
    what = f"fetch {_gib(need)} to {args.dest}" + (f" (resume at {offset} B)" if offset else "")
    if ctx.check:
        return changed(f"would {what}", dest=args.dest)
    _transfer(ctx, args, offset)
    if not _verify(ctx, p + '".part"', sha, stamp=False, size=size):
        ctx.run(f'rm -f -- {p}".part"')
        raise TaskFailed(f"{args.dest}: sha256 or size mismatch after transfer (removed)")
    ctx.run_checked(
        f'mv -f -- {p}".part" {p} && echo "{size} $(stat -c %Y -- {p}) {sha}" > {p}"{STAMP}"',
        f"finishing {args.dest}",
    )
    return changed(what, dest=args.dest, sha256=sha, resumed_from=offset)


def _resume_offset(ctx: TaskContext, p: str, state: OnHost, size: int) -> int:
    """Where the transfer starts: a partial (``.part``, or a short ``dest``) is kept."""
    if 0 <= state.dest_size < size and state.part_size < state.dest_size:
        ctx.run_checked(f'mv -f -- {p} {p}".part"', "keeping the partial file")
        return state.dest_size
    if state.dest_size >= 0:
        ctx.run_checked(f'rm -f -- {p} {p}"{STAMP}"', "removing the invalid file")
    if state.part_size > size:
        ctx.run_checked(f'rm -f -- {p}".part"', "removing an oversized partial")
        return 0
    return max(0, state.part_size)


def _verify(ctx: TaskContext, p: str, sha: str, stamp: bool, size: int | None = None) -> bool:
    """sha256 (and size) of a host file; with ``stamp``, record a match next to it."""
    out = ctx.run(f"sha256sum < {p} | cut -d' ' -f1; stat -c '%s %Y' -- {p}", 3600).stdout.split()
    good = len(out) == 3 and out[0] == sha and (size is None or int(out[1]) == size)
    if good and stamp:
        ctx.run(f'echo "{out[1]} {out[2]} {sha}" > {p}"{STAMP}"')
    return good


def _transfer(ctx: TaskContext, args: FetchModelArgs, offset: int) -> None:
    part = args.dest + ".part"
    ctx.run_checked(f'mkdir -p -- "$(dirname -- {home_path(part)})"', "creating the directory")
    url = args.download_url()
    if url is None:
        remote = ctx.run_checked(f"echo {home_path(part)}", "resolving the path").stdout.strip()
        ctx.transport.put(_local(ctx, args), remote, offset, timeout=args.timeout)
        return
    result = ctx.run(
        f"python3 - {quote(url)} {home_path(part)}", args.timeout, stdin=_DOWNLOAD.encode()
    )
    if result.exit_code != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise TaskFailed(f"download of {url} failed: {tail[0]}")


def _local(ctx: TaskContext, args: FetchModelArgs) -> Path:
    assert args.src is not None
    path = ctx.local_path(args.src)
    if not path.is_file():
        raise TaskFailed(f"{path} is not a file on the controller")
    return path


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"
