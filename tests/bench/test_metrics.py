"""Metric definitions on hand-made timelines (numbers checked by hand)."""

from __future__ import annotations

import pytest

from moefleet.bench.metrics import SloError, parse_slo, percentile, summarize
from moefleet.bench.records import RequestRecord


def _record(
    i: int, start: float, first: float, end: float, n: int, chunks: list[float]
) -> RequestRecord:
    return RequestRecord(
        index=i, scheduled=start, start=start, first_token=first, end=end,
        chunk_times=chunks, prompt_tokens=10, completion_tokens=n,
    )  # fmt: skip


def test_ttft_tpot_itl_e2e_by_definition() -> None:
    record = _record(0, 1.0, 1.2, 2.2, 11, [1.2, 1.3, 1.5, 2.2])
    assert record.ttft == pytest.approx(0.2)
    assert record.e2e == pytest.approx(1.2)
    assert record.tpot == pytest.approx((1.2 - 0.2) / 10)
    assert record.inter_chunk() == pytest.approx([0.1, 0.2, 0.7])


def test_percentiles_interpolate_linearly() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile([], 50) is None


def test_summary_throughput_goodput_and_warmup() -> None:
    warm = _record(0, 0.0, 0.1, 0.5, 5, [0.1])
    warm.warmup = True
    fast = _record(1, 1.0, 1.1, 2.0, 10, [1.1, 2.0])  # ttft 0.1, tpot 0.1
    slow = _record(2, 1.5, 2.5, 3.0, 10, [2.5, 3.0])  # ttft 1.0
    broken = RequestRecord(index=3, scheduled=2.0, start=2.0, end=2.1, error="HTTP 500: boom")
    metrics = summarize([warm, fast, slow, broken], parse_slo("ttft=500ms,tpot=200ms"))
    assert (metrics.requests, metrics.completed, metrics.failed) == (3, 2, 1)
    assert metrics.duration_s == pytest.approx(2.0)  # 1.0 .. 3.0
    assert metrics.output_tps == pytest.approx(20 / 2.0)
    assert metrics.total_tps == pytest.approx(40 / 2.0)
    assert metrics.request_rate == pytest.approx(1.0)
    assert metrics.goodput == pytest.approx(0.5)  # only `fast` meets both SLOs
    assert metrics.ttft.p50 == pytest.approx(0.55)


def test_usage_missing_is_not_counted_from_chunks() -> None:
    no_usage = RequestRecord(
        index=0, scheduled=0, start=0, first_token=0.1, end=1, chunk_times=[0.1] * 50
    )
    assert not no_usage.ok
    assert summarize([no_usage]).output_tps == 0.0


@pytest.mark.parametrize("text", ["ttft=fast", "latency=5ms", "ttft"])
def test_bad_slo_is_one_message(text: str) -> None:
    with pytest.raises(SloError, match="cannot read"):
        parse_slo(text)


def test_slo_units() -> None:
    assert parse_slo("ttft=500ms, tpot=0.05s,e2e=2") == {"ttft": 0.5, "tpot": 0.05, "e2e": 2.0}
