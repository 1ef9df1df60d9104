"""The load generator against a real llama-server on a tiny MoE model."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from moefleet.bench.client import LoadSpec, run_load
from moefleet.bench.metrics import summarize
from moefleet.bench.workload import Workload
from tests.llama.gguf_models import TINY_SPECS, tiny_gguf
from tests.llama.server import ServerOptions, llama_server

KEY = "bench-canary-key-7f3a"


@pytest.fixture(scope="module")
def server(llama_bins, tmp_path_factory):
    model = tiny_gguf(TINY_SPECS["qwen3moe"], "Q8_0", llama_bins.quantize)
    with llama_server(
        llama_bins.server, model, ServerOptions(n_ctx=8192, n_parallel=4), api_key=KEY
    ) as running:
        yield running


def test_concurrency_counts_tokens_from_usage(server) -> None:
    workload = Workload(model="tiny", input_tokens=48, output_tokens=24)
    records = asyncio.run(
        run_load(server.base_url, workload, LoadSpec(requests=12, concurrency=4, warmup=2), KEY)
    )
    assert len(records) == 14 and all(r.ok for r in records)
    assert all(r.completion_tokens == 24 and r.prompt_tokens == 48 for r in records)
    assert all(r.server_decode_tps and r.server_prefill_tps for r in records)  # llama timings
    metrics = summarize(records)
    assert metrics.requests == 12 and metrics.completed == 12
    assert metrics.ttft.p50 is not None and metrics.tpot.p50 is not None
    assert metrics.output_tps > 0 and metrics.total_tps > metrics.output_tps


def test_poisson_rate_and_deadline(server) -> None:
    workload = Workload(model="tiny", input_tokens=16, output_tokens=8)
    records = asyncio.run(
        run_load(server.base_url, workload, LoadSpec(requests=10, rate=50.0, seed=3), KEY)
    )
    gaps = [b.scheduled - a.scheduled for a, b in itertools.pairwise(records)]
    assert len(records) == 10 and all(g > 0 for g in gaps)  # Poisson schedule, in order
    cut = asyncio.run(
        run_load(server.base_url, Workload(model="tiny", output_tokens=4000, input_tokens=8),
                 LoadSpec(requests=4, concurrency=1, deadline_s=0.3), KEY)
    )  # fmt: skip
    assert len(cut) < 4  # the deadline stopped the run


def test_wrong_key_is_an_error_per_request_and_not_echoed(server) -> None:
    records = asyncio.run(
        run_load(
            server.base_url,
            Workload(model="tiny", output_tokens=4),
            LoadSpec(requests=2, concurrency=2),
            "wrong",
        )
    )
    assert all(r.error and r.error.startswith("HTTP 401") for r in records)
    assert all(KEY not in (r.error or "") for r in records)


def test_real_prompts_through_chat(server) -> None:
    records = asyncio.run(
        run_load(
            server.base_url,
            Workload(model="tiny", real=True, output_tokens=6),
            LoadSpec(requests=3, concurrency=3),
            KEY,
        )
    )
    assert all(r.ok and r.completion_tokens == 6 for r in records)
