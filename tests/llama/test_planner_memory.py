"""The planner's memory model against the real llama-server: model, KV and compute buffers
for dense, MoE, sliding-window and held-out shapes, flash attention on and off."""

from __future__ import annotations

import pytest

from moefleet.plan.gguf_weights import weights_of_gguf
from moefleet.plan.weights import model_weights
from tests.llama.memory_check import MIB, SPECS, TEST_CASES, Case, compare


@pytest.mark.parametrize(
    "case",
    TEST_CASES,
    ids=lambda c: (
        f"{c.spec}-{c.mix}-c{c.n_ctx}x{c.n_seq}-fa{int(c.flash_attn)}-{c.kv_type}-ub{c.n_ubatch}"
    ),
)
def test_memory_prediction_matches_llama_server(case: Case, llama_bins, tiny_model) -> None:
    result = compare(case, llama_bins.server, tiny_model(SPECS[case.spec], case.mix))
    # Weights and KV are exact (the log rounds each buffer to 0.01 MiB).
    assert abs(result.predicted["model"] - result.measured["model"]) <= 0.02 * MIB
    assert abs(result.predicted["kv"] - result.measured["kv"]) <= 0.02 * MIB
    assert abs(result.error("compute")) <= 0.10, result
    assert abs(result.error("total")) <= 0.03, result


@pytest.mark.parametrize("mix", ["Q4_K_M", "Q3_K_M", "Q8_0"])
@pytest.mark.parametrize("spec_key", ["qwen3moe", "gpt-oss", "gemma3"])
def test_weights_from_a_gguf_header_equal_the_predicted_mix(
    spec_key: str, mix: str, tiny_model
) -> None:
    """The bytes read from a real quantized file equal what the mix rules predict, per class
    and per layer (so placement is exact whether or not the file is at hand)."""
    path = tiny_model(SPECS[spec_key], mix)
    _, exact = weights_of_gguf(path)
    predicted = model_weights(SPECS[spec_key], mix)
    assert exact.total == predicted.total
    assert exact.by_class == predicted.by_class
    assert exact.layer_expert_bytes == predicted.layer_expert_bytes
    assert exact.layer_bytes == predicted.layer_bytes
