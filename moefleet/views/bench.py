"""Rich renderables for a benchmark run: a metrics table and bar charts. No printing here."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from moefleet.bench.metrics import Distribution
from moefleet.bench.sweep import BenchRun

BAR = 40


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f}"


def _dist(d: Distribution) -> str:
    return f"{_ms(d.p50)} / {_ms(d.p90)} / {_ms(d.p99)}"


def metrics_table(run: BenchRun) -> Table:
    """One row per load level with the standard metrics (latencies p50/p90/p99 in ms)."""
    table = Table(title=f"{run.target} — {run.workload.input_tokens} in / "
                  f"{run.workload.output_tokens} out tokens", expand=True)  # fmt: skip
    for column in ("level", "done", "fail", "out tok/s", "total tok/s", "req/s",
                   "TTFT ms", "TPOT ms", "ITL ms", "E2E ms", "goodput"):  # fmt: skip
        table.add_column(column, justify="left" if column == "level" else "right")
    for level in run.levels:
        m = level.metrics
        table.add_row(
            level.label, str(m.completed), str(m.failed), f"{m.output_tps:.0f}",
            f"{m.total_tps:.0f}", f"{m.request_rate:.2f}", _dist(m.ttft), _dist(m.tpot),
            _dist(m.itl), _dist(m.e2e), "—" if m.goodput is None else f"{m.goodput:.2f}/s",
        )  # fmt: skip
    table.caption = "latencies: p50 / p90 / p99 (TPOT = (E2E - TTFT)/(tokens - 1))"
    return table


def throughput_bars(run: BenchRun) -> RenderableType:
    """Output tokens/s per level as horizontal bars."""
    peak = max((lvl.metrics.output_tps for lvl in run.levels), default=0.0) or 1.0
    lines = [Text("output tokens/s by load level", style="bold")]
    for level in run.levels:
        width = int(BAR * level.metrics.output_tps / peak)
        lines.append(Text(f"{level.label:>12} {'█' * width}{' ' * (BAR - width)} "
                          f"{level.metrics.output_tps:,.0f}"))  # fmt: skip
    return Group(*lines)


def bench_view(run: BenchRun) -> RenderableType:
    parts: list[RenderableType] = [metrics_table(run), throughput_bars(run)]
    if run.throttled:
        parts.append(Text("⚠ the GPU throttled during this run: numbers are pessimistic",
                          style="yellow"))  # fmt: skip
    return Group(*parts)
