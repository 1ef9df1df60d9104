"""Glue for ``moefleet bench``: load levels from options, the API key from a file, the
server's model name, progress lines, and the report files."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from rich.console import Console

from moefleet.bench.client import LoadSpec, auth_headers
from moefleet.bench.html import report_html
from moefleet.bench.sweep import BenchRun, LevelResult, run_sweep, write_jsonl
from moefleet.bench.workload import Workload
from moefleet.errors import MoefleetError

__all__ = ["Workload", "bench_url", "first_model", "load_levels", "read_api_key", "write_jsonl"]


class BenchError(MoefleetError):
    """A benchmark that cannot start (no server, bad options, unreadable key)."""


def load_levels(
    concurrency: list[int], rates: list[float], requests: int, warmup: int, deadline: float | None
) -> list[LoadSpec]:
    """Concurrency levels first, then rates; one concurrency-1 level when none is given."""
    if any(c < 1 for c in concurrency) or any(r <= 0 for r in rates):
        raise BenchError("concurrency levels must be >= 1 and rates > 0")
    if not concurrency and not rates:
        concurrency = [1]
    levels = [
        LoadSpec(requests, concurrency=c, warmup=warmup, deadline_s=deadline) for c in concurrency
    ]
    levels += [LoadSpec(requests, rate=r, warmup=warmup, deadline_s=deadline) for r in rates]
    return levels


def read_api_key(path: Path) -> str:
    """The key in ``path`` (first line), refusing a file others can read."""
    try:
        mode = path.stat().st_mode
        key = path.read_text(encoding="utf-8").strip().splitlines()[0]
    except (OSError, IndexError) as exc:
        raise BenchError(f"cannot read an API key from {path}") from exc
    if mode & 0o077:
        raise BenchError(
            f"{path} is readable by others (mode {mode & 0o777:o})", f"chmod 600 {path}"
        )
    return key


def first_model(url: str, api_key: str | None) -> str:
    """The first model the server lists at ``/v1/models``."""
    headers = auth_headers(api_key)
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/models", headers=headers, timeout=10.0)
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise BenchError(
            f"{url}: cannot list models ({type(exc).__name__})", "pass --model NAME"
        ) from exc


def bench_url(
    url: str,
    workload: Workload,
    levels: list[LoadSpec],
    api_key: str | None,
    slo: dict[str, float] | None,
    progress: Console | None = None,
) -> BenchRun:
    """Run the sweep, printing one line per finished level on ``progress``."""

    def report(level: LevelResult) -> None:
        if progress is not None and progress.is_terminal:
            m = level.metrics
            progress.print(
                f"{level.label}: {m.completed}/{m.requests} ok, {m.output_tps:,.0f} tok/s"
            )

    return run_sweep(url, workload, levels, api_key, slo, on_level=report)


def write_html(run: BenchRun, path: Path) -> None:
    path.write_text(report_html(run), encoding="utf-8")
    os.chmod(path, 0o644)
