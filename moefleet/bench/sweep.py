"""A benchmark run: one workload at several load levels, each summarised, raw records kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moefleet.bench.client import LoadSpec, run_load
from moefleet.bench.metrics import BenchMetrics, summarize
from moefleet.bench.records import RequestRecord
from moefleet.bench.workload import Workload


@dataclass(frozen=True)
class LevelResult:
    """One load level: how it was driven and what it measured."""

    label: str
    load: LoadSpec
    metrics: BenchMetrics
    records: tuple[RequestRecord, ...] = field(repr=False)


@dataclass(frozen=True)
class BenchRun:
    """A whole run against one endpoint (what the state store keeps per deployment)."""

    target: str
    workload: Workload
    levels: tuple[LevelResult, ...]
    slo: dict[str, float] = field(default_factory=dict)
    throttled: bool | None = None
    """True when GPU telemetry saw thermal/power throttling during the run"""
    telemetry: tuple[dict[str, Any], ...] = ()

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no raw records, never an API key)."""
        return {
            "target": self.target,
            "workload": asdict(self.workload),
            "slo": self.slo,
            "throttled": self.throttled,
            "levels": [
                {"label": lvl.label, "load": _load_dict(lvl.load), "metrics": asdict(lvl.metrics)}
                for lvl in self.levels
            ],
        }


def _load_dict(load: LoadSpec) -> dict[str, Any]:
    data = asdict(load)
    data.pop("extra_body", None)
    return data


def level_label(load: LoadSpec) -> str:
    return f"c={load.concurrency}" if load.concurrency else f"rate={load.rate:g}/s"


def run_sweep(
    base_url: str,
    workload: Workload,
    levels: Sequence[LoadSpec],
    api_key: str | None = None,
    slo: dict[str, float] | None = None,
    on_level: Callable[[LevelResult], None] | None = None,
) -> BenchRun:
    """Run every level in order (lightest first, as given) against ``base_url``."""
    results = []
    for load in levels:
        records = asyncio.run(run_load(base_url, workload, load, api_key))
        result = LevelResult(level_label(load), load, summarize(records, slo), tuple(records))
        results.append(result)
        if on_level is not None:
            on_level(result)
    return BenchRun(base_url, workload, tuple(results), dict(slo or {}))


def write_jsonl(run: BenchRun, path: Path) -> None:
    """Every request's raw timeline, one JSON object per line, tagged with its level."""
    with path.open("w", encoding="utf-8") as out:
        for level in run.levels:
            for record in level.records:
                out.write(json.dumps({"level": level.label, **record.to_json()}) + "\n")
