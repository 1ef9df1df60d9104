"""``install_runtime`` with ``venv``: vLLM (or any pip package) in a virtualenv on the host.

``python3 -m venv DEST`` when ``DEST/bin/python`` is missing, then
``DEST/bin/python -m pip install [pip_args] PACKAGE`` (pip's own flags, e.g. ``--index-url``,
``--find-links``, ``--no-index``), with pip's output kept in ``DEST.moefleet-pip.log``. The
install counts when ``binary --version`` mentions the wanted version (``version``, else the
``==`` pin of the package: vLLM's CLI prints its package version for ``--version``). A stamp
(package, pip arguments, python) plus that check make re-runs ``ok`` without calling pip. A
venv cannot be moved once made (its scripts name its python), so it is upgraded in place; the
stamp is removed first, so an interrupted install is retried by the next run.
"""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from moefleet.playbook.result import TaskResult, changed, ok
from moefleet.playbook.tasks.base import Args, TaskContext, TaskFailed, argv, home_path
from moefleet.playbook.tasks.install_runtime_common import (
    STAMP,
    check_version,
    log_tail,
    runtime_version,
)

PIP_TIMEOUT_S = 3600
"""vLLM with its torch and CUDA wheels is several GB."""

_PIN = re.compile(r"==\s*([A-Za-z0-9_.+!-]+)\s*$")


class VenvArgs(Args):
    """What goes into the venv (``install_runtime``'s ``venv``); ``dest`` is the venv."""

    package: str = "vllm"
    """A pip requirement, e.g. ``vllm==0.11.0`` (its ``==`` pin is the version checked)."""
    pip_args: list[str] = Field(default_factory=list)
    """More ``pip install`` arguments: ``--index-url``, ``--find-links``, ``--no-index``..."""
    python: str = "python3"
    """The interpreter the venv is made from."""
    timeout: float = PIP_TIMEOUT_S
    """Seconds ``pip install`` may take."""

    @model_validator(mode="after")
    def _package_is_not_an_option(self) -> VenvArgs:
        if self.package.startswith("-"):
            raise ValueError(f"package {self.package!r} must not start with '-'")
        return self


def wanted_version(package: str, version: str | None) -> str | None:
    """The version to check: the explicit one, else the package's ``==`` pin."""
    if version:
        return version
    found = _PIN.search(package)
    return found.group(1) if found else None


def recipe(venv: VenvArgs) -> str:
    """The stamp's text: what was asked of pip."""
    return f"venv: {venv.python}\npackage: {venv.package}\npip: {argv(venv.pip_args)}"


def run_venv(
    ctx: TaskContext, venv: VenvArgs, dest: str, binary: str, version: str | None
) -> TaskResult:
    """Make the venv and pip-install the package unless the stamp and version say done."""
    d, installed = home_path(dest), f"{dest}/{binary}"
    wanted = wanted_version(venv.package, version)
    stamp = ctx.run(f"cat {d}/{STAMP} 2>/dev/null").stdout.strip()
    found = runtime_version(ctx, installed) if stamp == recipe(venv) else None
    if found is not None and (not wanted or wanted in found):
        return ok(f"{dest} has {venv.package}", binary=installed, version=found)
    fresh = ctx.run(f"[ -x {d}/bin/python ]").exit_code != 0
    if fresh and ctx.run(f"command -v {home_path(venv.python)}").exit_code != 0:
        raise TaskFailed(f"{venv.python} not found on the host: cannot make the venv {dest}")
    if ctx.check:
        made = f"would make the venv {dest} and" if fresh else "would"
        return changed(f"{made} pip install {venv.package} into it", binary=installed)
    log = f"{dest}.moefleet-pip.log"
    if fresh:
        ctx.run_checked(
            f"mkdir -p -- {d} && {home_path(venv.python)} -m venv {d} > {home_path(log)} 2>&1 || "
            f"{{ tail -n 3 {home_path(log)} >&2; exit 1; }}",
            f"making the venv {dest} ({venv.python} -m venv)",
        )
    pip = (
        f"rm -f -- {d}/{STAMP} && {d}/bin/python -m pip install --disable-pip-version-check "
        f"{argv(venv.pip_args)} {argv([venv.package])} >> {home_path(log)} 2>&1"
    )
    result = ctx.run(pip, timeout=max(ctx.timeout, venv.timeout))
    if result.exit_code != 0:
        raise TaskFailed(
            f"pip install {venv.package} into {dest} failed (exit {result.exit_code}); "
            f"log: {log}; its tail: {log_tail(ctx, log)}"
        )
    found = runtime_version(ctx, installed, strict=True)
    if found is None:
        raise TaskFailed(f"{venv.package} is installed in {dest}, but {installed} is missing")
    check_version(installed, found, wanted)
    ctx.run_checked(f"cat > {d}/{STAMP}", "writing the stamp", stdin=recipe(venv).encode())
    return changed(
        f"installed {venv.package} into {dest}", binary=installed, version=found, log=log
    )
