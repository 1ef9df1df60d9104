"""Benchmark metrics with their standard definitions (pure functions over RequestRecords).

- TTFT: first streamed token minus request start.
- TPOT: (E2E - TTFT) / (output tokens - 1), per request.
- ITL: gaps between consecutive streamed chunks (all requests pooled).
- E2E: request end minus start.
- Output tokens/s: completion tokens of all measured requests / measured wall time; total
  tokens/s adds prompt tokens; request throughput: completed requests / wall time.
- Goodput: requests/s that met every SLO given (e.g. ttft <= 500 ms and tpot <= 50 ms).
Percentiles are linear-interpolated (numpy's default method), reported p50/p90/p99.
Token counts come from the server's ``usage``, never from counting chunks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from moefleet.bench.records import RequestRecord
from moefleet.errors import MoefleetError

_SLO = re.compile(r"^\s*(ttft|tpot|itl|e2e)\s*=\s*([0-9.]+)\s*(ms|s)?\s*$")


class SloError(MoefleetError):
    """An --slo value that cannot be read."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Distribution:
    """Mean and percentiles of one latency (seconds)."""

    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        mean = sum(values) / len(values) if values else None
        return cls(mean, percentile(values, 50), percentile(values, 90), percentile(values, 99))


@dataclass(frozen=True)
class BenchMetrics:
    """What one load level measured."""

    requests: int
    completed: int
    failed: int
    duration_s: float
    ttft: Distribution
    tpot: Distribution
    itl: Distribution
    e2e: Distribution
    output_tps: float
    total_tps: float
    request_rate: float
    goodput: float | None


def parse_slo(text: str) -> dict[str, float]:
    """``"ttft=500ms,tpot=50ms"`` -> {"ttft": 0.5, "tpot": 0.05} (seconds)."""
    slo: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _SLO.match(part)
        if match is None:
            raise SloError(f"--slo: cannot read {part!r}", "e.g. --slo ttft=500ms,tpot=50ms")
        value = float(match[2]) / (1000.0 if match[3] == "ms" else 1.0)
        slo[match[1]] = value
    return slo


def _meets(record: RequestRecord, slo: dict[str, float]) -> bool:
    values = {
        "ttft": record.ttft,
        "tpot": record.tpot,
        "e2e": record.e2e,
        "itl": max(record.inter_chunk(), default=0.0),
    }
    return all(values[k] is not None and values[k] <= limit for k, limit in slo.items())  # type: ignore[operator]


def summarize(
    records: Sequence[RequestRecord], slo: dict[str, float] | None = None
) -> BenchMetrics:
    """Metrics of the measured (non-warm-up) requests."""
    measured = [r for r in records if not r.warmup]
    done = [r for r in measured if r.ok]
    duration = max(r.end for r in measured) - min(r.start for r in measured) if measured else 0.0
    per_second = (lambda x: x / duration) if duration > 0 else (lambda x: 0.0)
    output = sum(r.completion_tokens or 0 for r in done)
    prompt = sum(r.prompt_tokens or 0 for r in done)
    goodput = per_second(sum(1 for r in done if _meets(r, slo))) if slo else None
    return BenchMetrics(
        requests=len(measured),
        completed=len(done),
        failed=len(measured) - len(done),
        duration_s=duration,
        ttft=Distribution.of([r.ttft for r in done if r.ttft is not None]),
        tpot=Distribution.of([r.tpot for r in done if r.tpot is not None]),
        itl=Distribution.of([gap for r in done for gap in r.inter_chunk()]),
        e2e=Distribution.of([r.e2e for r in done]),
        output_tps=per_second(output),
        total_tps=per_second(output + prompt),
        request_rate=per_second(len(done)),
        goodput=goodput,
    )
