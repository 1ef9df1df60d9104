"""A self-contained HTML report of a benchmark run: tables plus inline SVG charts
(tokens/s vs load level, E2E latency histogram). No external assets, no JavaScript."""

from __future__ import annotations

import html
from collections.abc import Sequence

from moefleet.bench.sweep import BenchRun

W, H, PAD = 560, 220, 36


def _line_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    peak = max(values, default=0.0) or 1.0
    n = max(1, len(values) - 1)
    points = [
        (PAD + i * (W - 2 * PAD) / n, H - PAD - v / peak * (H - 2 * PAD))
        for i, v in enumerate(values)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    ticks = "".join(
        f'<text x="{x:.1f}" y="{H - 12}" font-size="11" text-anchor="middle">'
        f"{html.escape(label)}</text>"
        for (x, _), label in zip(points, labels, strict=True)
    )
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{v:,.0f}</title></circle>'
        for (x, y), v in zip(points, values, strict=True)
    )
    return (
        f"<figure><figcaption>{html.escape(title)} (peak {peak:,.0f})</figcaption>"
        f'<svg width="{W}" height="{H}" role="img"><polyline fill="none" stroke="#2a6" '
        f'stroke-width="2" points="{path}"/>{dots}{ticks}</svg></figure>'
    )


def _histogram(title: str, values: Sequence[float], bins: int = 20) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / span * bins))] += 1
    top = max(counts)
    bar = (W - 2 * PAD) / bins
    rects = "".join(
        f'<rect x="{PAD + i * bar:.1f}" y="{H - PAD - c / top * (H - 2 * PAD):.1f}" '
        f'width="{bar - 1:.1f}" height="{c / top * (H - 2 * PAD):.1f}" fill="#46a">'
        f"<title>{c}</title></rect>"
        for i, c in enumerate(counts)
    )
    axis = (f'<text x="{PAD}" y="{H - 12}" font-size="11">{low * 1000:.0f} ms</text>'
            f'<text x="{W - PAD}" y="{H - 12}" font-size="11" text-anchor="end">'
            f"{high * 1000:.0f} ms</text>")  # fmt: skip
    return (f"<figure><figcaption>{html.escape(title)}</figcaption>"
            f'<svg width="{W}" height="{H}" role="img">{rects}{axis}</svg></figure>')  # fmt: skip


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f}"


def report_html(run: BenchRun) -> str:
    """The whole report as one HTML document."""
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(cell))}</td>"
            for cell in (
                lvl.label,
                lvl.metrics.completed,
                lvl.metrics.failed,
                f"{lvl.metrics.output_tps:,.0f}",
                f"{lvl.metrics.request_rate:.2f}",
                _ms(lvl.metrics.ttft.p50),
                _ms(lvl.metrics.ttft.p99),
                _ms(lvl.metrics.tpot.p50),
                _ms(lvl.metrics.tpot.p99),
                _ms(lvl.metrics.e2e.p50),
                _ms(lvl.metrics.e2e.p99),
            )
        )
        + "</tr>"
        for lvl in run.levels
    )
    head = "".join(f"<th>{h}</th>" for h in (
        "level", "done", "failed", "out tok/s", "req/s", "TTFT p50", "TTFT p99",
        "TPOT p50", "TPOT p99", "E2E p50", "E2E p99",
    ))  # fmt: skip
    e2e = [r.e2e for lvl in run.levels for r in lvl.records if r.ok and not r.warmup]
    charts = _line_chart(
        "output tokens/s by load level",
        [lvl.label for lvl in run.levels],
        [lvl.metrics.output_tps for lvl in run.levels],
    ) + _histogram("end-to-end latency, all levels", e2e)
    warning = "<p><b>The GPU throttled during this run.</b></p>" if run.throttled else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>moefleet bench</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>moefleet bench: {html.escape(run.target)}</h1>{warning}"
        f"<p>{run.workload.input_tokens} input / {run.workload.output_tokens} output tokens; "
        "latencies in ms; TPOT = (E2E - TTFT)/(tokens - 1)</p>"
        f"<table><tr>{head}</tr>{rows}</table>{charts}</body></html>"
    )
