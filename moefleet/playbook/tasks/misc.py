"""Small task kinds: ``bench`` (a hook the caller registers) and ``fail`` (end the host)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from moefleet.playbook.result import TaskResult, failed, ok, skipped
from moefleet.playbook.tasks.base import Args, TaskContext


class BenchArgs(Args):
    """Arguments of ``bench``: passed as they are to the caller's hook."""

    name: str = "bench"
    """What is benchmarked (for messages)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Anything the hook needs (URL, model, workload ...)."""


def run_bench(ctx: TaskContext, args: BenchArgs) -> TaskResult:
    """Call the registered hook; without one this is a no-op."""
    if ctx.check:
        return skipped(f"would run {args.name}")
    if ctx.bench_hook is None:
        return ok(f"{args.name}: no bench hook registered")
    return ctx.bench_hook(ctx.host, args.model_dump())


class FailArgs(Args):
    """Arguments of ``fail``."""

    msg: str = "failed as requested"
    """The failure message."""


def run_fail(ctx: TaskContext, args: FailArgs) -> TaskResult:
    """Fail the host with ``msg`` (also in check mode)."""
    return failed(args.msg)
