"""Weights, KV cache and layer placement, each against a number derived by hand or by source."""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

import gguf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moefleet.plan.ggml_types import BLOCK
from moefleet.plan.kv import llama_kv, recurrent_state
from moefleet.plan.memory_llama import CPU, LlamaSettings, layer_devices, llama_memory
from moefleet.plan.weights import model_weights
from tests.plan.helpers import GIB, catalog

MIB = 1024**2


def test_block_table_matches_gguf_package() -> None:
    for name, (elements, size) in BLOCK.items():
        assert gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]] == (elements, size), name


# Whole-file bits per weight of Llama-3.1-8B per mix (planner_facts "quants", from llama.cpp's
# quantize README table). IQ3_XXS and below are made with an importance matrix: not compared.
LLAMA31_8B_BPW = {
    "Q2_K": 3.1593, "Q3_K_S": 3.6429, "Q3_K_M": 4.0, "Q3_K_L": 4.2979, "Q4_K_S": 4.6672,
    "Q4_K_M": 4.8944, "Q5_K_S": 5.5704, "Q5_K_M": 5.7036, "Q6_K": 6.5633, "Q8_0": 8.5008,
    "IQ4_NL": 4.6818, "IQ4_XS": 4.4597, "F16": 16.0005,
}  # fmt: skip


@pytest.mark.parametrize(("mix", "bpw"), sorted(LLAMA31_8B_BPW.items()))
def test_llama31_8b_mix_sizes_match_llama_quantize(mix: str, bpw: float) -> None:
    weights = model_weights(catalog().model("llama-3-1-8b"), mix)
    params = sum(t.tensor.elements for t in weights.tensors)
    assert weights.total * 8 / params == pytest.approx(bpw, abs=0.01)


def test_gpt_oss_20b_mxfp4_file_size() -> None:
    """ggml-org/gpt-oss-20b-GGUF MXFP4: 11.27 GiB (biases not modelled: within 0.5%)."""
    weights = model_weights(catalog().model("gpt-oss-20b"), "MXFP4_MOE")
    assert weights.total / GIB == pytest.approx(11.27, rel=0.005)


def test_gqa_kv_llama31_8b_32k_is_4096_mib() -> None:
    """logdetective PR #106: 4096 MiB of KV at 32k for 32 layers x 8 KV heads x 128."""
    size = llama_kv(catalog().model("llama-3-1-8b"), 32768)
    assert size.kv_bytes == 4096 * MIB and size.recurrent_bytes == 0


def test_mla_kv_deepseek_q8_0_32k() -> None:
    """ik_llama.cpp PR #259: 61 x 576 x 32768 x 34/32 bytes = 1166.62 MiB (K-only latent)."""
    size = llama_kv(catalog().model("deepseek-v3"), 32768, type_k="q8_0", type_v="q8_0")
    assert size.kv_bytes / MIB == pytest.approx(1166.62, abs=0.01)


def test_sliding_window_layers_keep_window_cells() -> None:
    """gpt-oss: 12 of 24 layers slide over 128 tokens; llama.cpp keeps
    pad(128 x n_seq + n_ubatch, 256) cells there (src/llama-kv-cache-iswa.cpp)."""
    model = catalog().model("gpt-oss-20b")
    per_cell_layer = 2 * model.kv_heads * model.head_dim * 2
    size = llama_kv(model, 32768, n_seq=1)
    assert size.kv_bytes == 12 * per_cell_layer * (32768 + 768)


def test_hybrid_recurrent_state_per_sequence() -> None:
    """Qwen3.5/3.6-35B-A3B: 30 linear layers, ~62.8 MiB of f32 state per sequence."""
    model = catalog().model("qwen3.6-35b-a3b")
    assert recurrent_state(model, 1) / MIB == pytest.approx(62.8, abs=0.1)
    assert recurrent_state(model, 4) == 4 * recurrent_state(model, 1)
    assert llama_kv(model, 8192).kv_layers == 10


def test_quantized_kv_is_smaller_by_block_ratio() -> None:
    model = catalog().model("qwen3-8b")
    f16 = llama_kv(model, 8192).kv_bytes
    q8 = llama_kv(model, 8192, type_k="q8_0", type_v="q8_0").kv_bytes
    assert q8 * 2 * 32 == f16 * 34


def _reference_devices(n_layer: int, gpu_layers: int, splits: tuple[float, ...]) -> list[int]:
    """A line-by-line port of llama_model::load_tensors' layer assignment."""
    total = sum(splits)
    cumulative = [c / total for c in accumulate(splits)]
    start = max(n_layer + 1 - gpu_layers, 0)
    active = min(gpu_layers, n_layer + 1) if splits else 0
    out = []
    for il in range(n_layer + 1):
        if il < start or il - start >= active:
            out.append(CPU)
        else:
            out.append(min(bisect_right(cumulative, (il - start) / active), len(splits) - 1))
    return out


@given(
    st.integers(1, 120),
    st.integers(0, 125),
    st.lists(st.floats(0.05, 4.0), min_size=0, max_size=8).map(tuple),
)
def test_layer_devices_follow_llama_cpp(n_layer: int, ngl: int, splits: tuple[float, ...]) -> None:
    assert layer_devices(n_layer, ngl, splits) == _reference_devices(n_layer, ngl, splits)


def test_llama_memory_conserves_weights() -> None:
    """However layers and experts are spread, every weight byte is somewhere exactly once."""
    weights = model_weights(catalog().model("qwen3-30b-a3b"), "Q4_K_M")
    settings = LlamaSettings(n_ctx=4096)
    for ngl, splits, n_cpu_moe in [
        (49, (1.0,), 0),
        (49, (1.0, 1.0), 10),
        (20, (1.0,), 0),
        (0, (), 0),
    ]:
        memory = llama_memory(weights, settings, ngl, splits, n_cpu_moe)
        assert sum(d.weights for d in memory.values()) == weights.total
        assert sum(d.kv for d in memory.values()) == llama_kv(weights.model, 4096).total


def test_n_cpu_moe_moves_exactly_the_first_layers_experts() -> None:
    weights = model_weights(catalog().model("qwen3-30b-a3b"), "Q4_K_M")
    settings = LlamaSettings(n_ctx=4096)
    base = llama_memory(weights, settings, 49, (1.0,), 0)
    moved = llama_memory(weights, settings, 49, (1.0,), 12)
    expected = sum(weights.layer_expert_bytes[:12])
    assert moved[CPU].weights - base[CPU].weights == expected
    assert base[0].weights - moved[0].weights == expected
    assert moved[0].kv == base[0].kv
