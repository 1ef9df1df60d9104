"""``install_runtime`` with ``build``: llama.cpp (or any CMake project) built on the host.

The source (``install_source``) is configured with CMake and only ``target`` is built, with as
many jobs as the host has cores; the binary and every shared library of the build tree land in
``dest.moefleet-new``, are checked to run, and are swapped in by rename (the previous install
stays as ``dest.moefleet-old``; a failed build leaves ``dest`` untouched). The checkout, the
build tree and ``build.log`` stay in ``dest.moefleet-build`` for the next, incremental, build.
A stamp in ``dest`` records source, ref, resolved commit (or tarball sha256), target and CMake
arguments: a re-run with the same recipe is ``ok`` without fetching or building.

CMake options, as llama.cpp names them (its ``CMakeLists.txt``, ``ggml/CMakeLists.txt`` and
``docs/build.md``): ``GGML_CUDA`` (OFF by default), ``CMAKE_CUDA_ARCHITECTURES`` (e.g.
``"86;89"``, docs/build.md "Manually list each varying Compute Capability"),
``LLAMA_BUILD_TESTS`` / ``LLAMA_BUILD_EXAMPLES``, and, turned OFF when the tree declares them
so that the build stays offline, ``LLAMA_USE_PREBUILT_UI`` (downloads the web UI) and
``LLAMA_CURL`` (needs libcurl headers; older trees). The binaries get ``$ORIGIN`` as their
rpath (``CMAKE_INSTALL_RPATH`` + ``CMAKE_BUILD_WITH_INSTALL_RPATH``, as docs/build.md does) so
they find the libraries installed beside them. ``cmake_args`` come last and win.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from pydantic import Field, model_validator

from moefleet.facts.model import GpuFacts
from moefleet.playbook.result import TaskResult, changed, ok
from moefleet.playbook.tasks import install_source as source
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, argv, home_path, quote
from moefleet.playbook.tasks.install_runtime_common import (
    STAMP,
    check_version,
    env_exports,
    log_tail,
    runtime_version,
    swap_in,
)
from moefleet.playbook.tasks.install_source import BuildPaths

BUILD_TIMEOUT_S = 3 * 3600
"""A CUDA llama.cpp for several architectures takes most of an hour on a small host."""

OFFLINE_OPTIONS = ("LLAMA_USE_PREBUILT_UI", "LLAMA_CURL")
"""Options set OFF when the source tree declares them: they reach the network or need extras."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAPABILITY = re.compile(r"(\d+)\.(\d+)")


class BuildArgs(Args):
    """Where the source comes from and how to build it (``install_runtime``'s ``build``)."""

    git: str | None = None
    """A git repository (URL, or a path on the host) to build ``ref`` of."""
    ref: str = "HEAD"
    """Branch, tag or commit of ``git`` (e.g. llama.cpp's release tags: ``b6000``). Each run
    asks the remote what it names (``git ls-remote``); a full commit id needs no remote."""
    tarball: str | None = None
    """An ``http(s)://`` URL fetched on the host, or a tarball on the controller to push."""
    sha256: str | None = None
    """The tarball's expected sha256 (a URL is then not fetched again when up to date)."""
    subdir: str = ""
    """Where ``CMakeLists.txt`` is inside the source (after a tarball's top directory)."""
    cuda_archs: str | None = None
    """``CMAKE_CUDA_ARCHITECTURES`` for a CUDA build (e.g. ``"86;89"``); None: a CPU build."""
    target: str = "llama-server"
    """The CMake target to build; the file of that name is installed as ``binary``."""
    cmake_args: list[str] = Field(default_factory=list)
    """More configure arguments, after moefleet's own (so they override them)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment for fetch and build: ``CC``, ``CXX``, ``CUDACXX`` (CMake reads them),
    ``https_proxy``... Not part of the stamp: changing only ``env`` rebuilds nothing."""
    jobs: int | None = Field(default=None, ge=1)
    """Parallel build jobs; default: the host's cores (``nproc``)."""
    timeout: float = BUILD_TIMEOUT_S
    """Seconds each step (fetch, configure, build) may take."""

    @model_validator(mode="after")
    def _one_source(self) -> BuildArgs:
        if (self.git is None) == (self.tarball is None):
            raise ValueError("build needs exactly one of git (+ ref) or tarball")
        if self.sha256 is not None and self.tarball is None:
            raise ValueError("sha256 is for a tarball")
        for value in (self.git or "", self.ref, self.target):
            if value.startswith("-"):
                raise ValueError(f"{value!r} must not start with '-'")
        if ".." in self.subdir.split("/") or self.subdir.startswith("/"):
            raise ValueError(f"subdir {self.subdir!r} must stay inside the source")
        bad = [key for key in self.env if not _NAME.fullmatch(key)]
        if bad:
            raise ValueError(f"env names must be shell identifiers: {bad}")
        return self

    def describe(self) -> str:
        if self.git is not None:
            return f"{self.git}@{self.ref}"
        return str(self.tarball)


def cuda_architectures(gpus: Iterable[GpuFacts]) -> str | None:
    """``CMAKE_CUDA_ARCHITECTURES`` for the NVIDIA GPUs a probe found, None when there are none.

    Compute capability ``8.9`` is architecture ``89`` (CMake's CUDA_ARCHITECTURES takes the
    capability without its dot); a mixed host gets each one, ascending: ``"86;89"``.
    """
    archs: set[int] = set()
    for gpu in gpus:
        found = _CAPABILITY.fullmatch((gpu.compute_capability or "").strip())
        if gpu.vendor == "nvidia" and found:
            archs.add(int(found.group(1)) * 10 + int(found.group(2)))
    return ";".join(str(arch) for arch in sorted(archs)) or None


def cmake_options(build: BuildArgs) -> list[str]:
    """The configure arguments of ``build`` (those that do not depend on the host)."""
    options = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
        "-DCMAKE_INSTALL_RPATH=$ORIGIN",
    ]
    if build.cuda_archs:
        options += ["-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={build.cuda_archs}"]
    else:
        options.append("-DGGML_CUDA=OFF")
    return options + build.cmake_args


def recipe(build: BuildArgs, resolved: str) -> str:
    """The stamp's text: everything that decides what gets built."""
    origin = f"git {build.git} ref {build.ref}" if build.git else f"tarball {build.tarball}"
    label = "commit" if build.git else "sha256"
    return "\n".join(
        [
            f"build: {origin}",
            f"{label}: {resolved}",
            f"subdir: {build.subdir}",
            f"target: {build.target}",
            f"cmake: {argv(cmake_options(build))}",
        ]
    )


def run_build(
    ctx: TaskContext, build: BuildArgs, dest: str, binary: str, version: str | None
) -> TaskResult:
    """Build ``build`` into ``dest`` (``binary`` is relative to it) unless the stamp says done."""
    paths, installed = BuildPaths(dest), f"{dest}/{binary}"
    known = _known_identity(ctx, build)
    stamp = ctx.run(
        f"[ -x {home_path(installed)} ] && cat {home_path(dest)}/{STAMP} 2>/dev/null"
    ).stdout.strip()
    if known is not None and stamp == recipe(build, known):
        return ok(f"{dest} is built from {build.describe()}", binary=installed)
    _preflight(ctx, build)
    if ctx.check:
        what = f" ({known[:12]})" if known else ""
        return changed(
            f"would build {build.target} from {build.describe()}{what} with "
            f"{' '.join(cmake_options(build))} into {dest}",
            binary=installed,
        )
    began = time.monotonic()
    log = home_path(paths.log)
    ctx.run_checked(  # one log over runs (each marked), restarted once it passes 4 MiB
        f"mkdir -p -- {home_path(paths.work)} && "
        f"{{ [ $(wc -c < {log} 2>/dev/null || echo 0) -lt 4194304 ] || : > {log}; }} && "
        f'echo "== $(date -u +%FT%TZ)" {quote(build.describe())} >> {log}',
        "preparing the build",
    )
    resolved = _fetch(ctx, build, paths)
    text = recipe(build, resolved)
    if stamp == text:  # fetched, and it is what is installed: nothing to build
        return ok(f"{dest} is built from {build.describe()}", binary=installed)
    if build.tarball is not None:
        source.unpack_tarball(ctx, paths, build.timeout)
        ctx.run_checked(f"rm -rf -- {home_path(paths.build)}", "clearing the old build tree")
    _step(ctx, build, paths, "configure", _configure(build, paths))
    jobs = str(build.jobs) if build.jobs else '"$(nproc 2>/dev/null || echo 2)"'
    target = quote(build.target)
    compile_ = f"cmake --build {home_path(paths.build)} --target {target} --parallel {jobs}"
    _step(ctx, build, paths, "build", compile_)
    found = _install(ctx, build, paths, binary, text, version)
    return changed(
        f"built {build.target} from {build.describe()} ({resolved[:12]}) into {dest} in "
        f"{time.monotonic() - began:.0f} s",
        binary=installed,
        version=found,
        resolved=resolved,
        cuda_archs=build.cuda_archs,
        log=paths.log,
    )


def _known_identity(ctx: TaskContext, build: BuildArgs) -> str | None:
    """The commit / sha256 the source stands for, when it can be known without fetching."""
    if build.git is not None:
        return source.resolve_git(ctx, build.git, build.ref, env_exports(build.env))
    assert build.tarball is not None
    if build.sha256:
        return build.sha256.lower()
    if not source.is_url(build.tarball):
        return source.local_digest(ctx.local_path(build.tarball))
    return source.remote_digest(ctx, build.tarball, env_exports(build.env)) if ctx.check else None


def _preflight(ctx: TaskContext, build: BuildArgs) -> None:
    """Fail before anything starts when a tool the build needs is missing on the host."""
    checks = [
        'have cmake || m="$m cmake"',
        'if [ -n "${CC:-}" ]; then have "$CC" || m="$m C-compiler(CC=$CC)"; '
        'else have cc || have gcc || have clang || m="$m C-compiler(cc)"; fi',
        'if [ -n "${CXX:-}" ]; then have "$CXX" || m="$m C++-compiler(CXX=$CXX)"; '
        'else have c++ || have g++ || have clang++ || m="$m C++-compiler(c++)"; fi',
        'have make || have ninja || m="$m make-or-ninja"',
        'have git || m="$m git"' if build.git else 'have tar || m="$m tar"',
    ]
    if build.tarball and source.is_url(build.tarball):
        checks.append('have curl || have wget || have python3 || m="$m curl-or-wget"')
    if build.cuda_archs:
        checks.append(
            'if [ -n "${CUDACXX:-}" ]; then have "$CUDACXX" || m="$m nvcc(CUDACXX=$CUDACXX)"; '
            'else have nvcc || [ -x /usr/local/cuda/bin/nvcc ] || m="$m nvcc"; fi'
        )
    script = 'have() { command -v "$1" >/dev/null 2>&1; }; m=""; ' + "; ".join(checks)
    missing = ctx.run(f'{env_exports(build.env)}{script}; echo "$m"').stdout.split()
    if missing:
        raise TaskFailed(
            f"cannot build {build.target} on the host: missing {', '.join(missing)} "
            "(install them, or point CC/CXX/CUDACXX at them in build.env); nothing was changed"
        )


def _fetch(ctx: TaskContext, build: BuildArgs, paths: BuildPaths) -> str:
    """The source in ``paths.src``; the commit or sha256 it is."""
    if build.git is not None:
        try:
            env = env_exports(build.env)
            return source.checkout_git(ctx, paths, build.git, build.ref, build.timeout, env)
        except TaskFailed as exc:
            raise TaskFailed(f"{exc}: {log_tail(ctx, paths.log, 5)}") from None
    assert build.tarball is not None
    digest = source.fetch_tarball(ctx, paths, build.tarball, build.timeout, env_exports(build.env))
    if build.sha256 and digest != build.sha256.lower():
        raise TaskFailed(f"{build.tarball} has sha256 {digest}, not {build.sha256}")
    return digest


def _configure(build: BuildArgs, paths: BuildPaths) -> str:
    """The configure command: the tree's offline options, the host's generator and nvcc."""
    root = home_path(f"{paths.src}/{build.subdir}".rstrip("/"))
    b = home_path(paths.build)
    offline = " ".join(OFFLINE_OPTIONS)
    nvcc = ""
    if build.cuda_archs:
        nvcc = (
            'if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1; then '
            'set -- "$@" -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc; fi; '
        )
    return (
        f"[ -f {root}/CMakeLists.txt ] || {{ echo 'no CMakeLists.txt in the source "
        "(set build.subdir)'; exit 2; }; set --; "
        f"command -v ninja >/dev/null 2>&1 && set -- -G Ninja; "
        f'for o in {offline}; do grep -q "option($o[ )]" {root}/CMakeLists.txt && '
        'set -- "$@" "-D$o=OFF"; done; '
        f"{nvcc}"
        f'printf "%s\\n" "$@" {argv(cmake_options(build))} > {b}.args.new; '
        f"cmp -s {b}.args.new {b}/.moefleet-args || rm -rf -- {b}; "
        f'cmake -S {root} -B {b} "$@" {argv(cmake_options(build))} && '
        f"mv -- {b}.args.new {b}/.moefleet-args"
    )


def _step(ctx: TaskContext, build: BuildArgs, paths: BuildPaths, what: str, command: str) -> None:
    """Run one build step with its output appended to the log; its tail in the failure."""
    log = home_path(paths.log)
    result = ctx.run(
        f"{env_exports(build.env)}{{ echo '== {what}'; {command}; }} >> {log} 2>&1",
        timeout=max(ctx.timeout, build.timeout),
    )
    if result.exit_code != 0:
        raise TaskFailed(
            f"{what} of {build.describe()} failed (exit {result.exit_code}); the previous "
            f"install is untouched; log: {paths.log}; its tail: {log_tail(ctx, paths.log)}"
        )


def _install(
    ctx: TaskContext, build: BuildArgs, paths: BuildPaths, binary: str, text: str,
    version: str | None,
) -> str:  # fmt: skip
    """Binary + shared libraries into staging, checked to run, then swapped in; its version."""
    staged = f"{paths.staging}/{binary}"
    libdir = staged.rsplit("/", 1)[0]
    st, b, lib = home_path(paths.staging), home_path(paths.build), home_path(libdir)
    ctx.run_checked(
        f"rm -rf -- {st} && mkdir -p -- {st} {lib} && "
        f"f=$(find {b} -path {b}/CMakeFiles -prune -o -type f -name {quote(build.target)} "
        f'-perm -u+x -print | head -n 1) && [ -n "$f" ] || '
        f"{{ echo {quote(f'no {build.target} in the build tree')} >&2; exit 3; }}; "
        f'cp -- "$f" {home_path(staged)} && '
        f"find {b} -path {b}/CMakeFiles -prune -o \\( -name '*.so' -o -name '*.so.*' \\) "
        f"\\( -type f -o -type l \\) -exec cp -P -- {{}} {lib}/ \\; && cat > {st}/{STAMP}",
        "installing the build",
        stdin=text.encode(),
    )
    try:
        found = runtime_version(ctx, staged, libdir, strict=True) or ""
        check_version(f"the built {build.target}", found, version)
    except TaskFailed as exc:
        ctx.run(f"rm -rf -- {st}")
        raise TaskFailed(f"{exc}; {paths.dest} is untouched") from None
    ctx.run_checked(swap_in(paths.staging, paths.dest), f"swapping in {paths.dest}")
    return found
