"""The planner's memory model against the real llama.cpp (tiny models, CPU)."""

from __future__ import annotations

import pytest

from moefleet.plan.kv import llama_kv
from moefleet.plan.quant_mix import assign_types
from moefleet.plan.tensors import model_tensors
from moefleet.plan.weights import _mix_context
from tests.llama.gguf_models import TINY_SPECS

pytestmark = pytest.mark.llama

#: two KV lines, each rounded to 0.01 MiB in the log
KV_ROUNDING = 2 * 5243


def _real_types(path):
    import gguf  # noqa: PLC0415  # optional: fixtures skip without it

    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}


@pytest.mark.parametrize("key", sorted(TINY_SPECS))
@pytest.mark.parametrize("mix", ["Q8_0", "Q4_K_M", "Q3_K_M"])
def test_quant_mix_types_match_llama_quantize(key, mix, tiny_model):
    spec = TINY_SPECS[key]
    real = _real_types(tiny_model(spec, mix))
    tensors = model_tensors(spec)
    planned = dict(
        zip(
            (t.name for t in tensors),
            assign_types(tensors, mix, _mix_context(spec), source_type="F16"),
            strict=True,
        )
    )

    common = planned.keys() & real.keys()
    assert {n: planned[n] for n in common} == {n: real[n] for n in common}


@pytest.mark.parametrize("key", sorted(TINY_SPECS))
@pytest.mark.parametrize(("n_ctx", "ctk", "ctv"), [(2048, "f16", "f16"), (8192, "q8_0", "q8_0")])
def test_kv_cache_single_slot(key, n_ctx, ctk, ctv, tiny_model, llama_server_factory):
    spec = TINY_SPECS[key]
    server = llama_server_factory(
        tiny_model(key), n_ctx=n_ctx, n_parallel=1, cache_type_k=ctk, cache_type_v=ctv
    )
    predicted = llama_kv(spec, n_ctx, 1, ctk, ctv, n_ubatch=512)

    assert abs(server.memory().kv_bytes - predicted.kv_bytes) <= KV_ROUNDING


@pytest.mark.parametrize("key", ["llama", "gemma3", "gpt-oss"])
@pytest.mark.parametrize(("n_ctx", "n_ubatch"), [(512, 512), (8192, 128)])
def test_kv_cache_parallel_slots(key, n_ctx, n_ubatch, tiny_model, llama_server_factory):
    """-np N: one stream per slot of pad(n_ctx/N) cells, sliding window per stream."""
    spec = TINY_SPECS[key]
    server = llama_server_factory(tiny_model(key), n_ctx=n_ctx, n_parallel=4, n_ubatch=n_ubatch)
    predicted = llama_kv(spec, n_ctx, 4, n_ubatch=n_ubatch)

    assert abs(server.memory().kv_bytes - predicted.kv_bytes) <= KV_ROUNDING
