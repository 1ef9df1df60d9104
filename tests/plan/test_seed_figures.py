"""The seeds' figures, checked by the planner (sources in ../shared/seeds and the reference)."""

from __future__ import annotations

import pytest

from moefleet.plan.demand import Demand
from moefleet.plan.fleet import plan_fleet
from moefleet.plan.weights import model_weights
from tests.plan.helpers import GIB, catalog, node, plan


def test_qwen3_30b_a3b_bf16_weights_are_56_9_gib() -> None:
    """Seed 002: 'Qwen3-30B-A3B in BF16: 56.9 GiB' (MoE memory is set by total parameters)."""
    weights = model_weights(catalog().model("qwen3-30b-a3b"), "BF16")
    assert weights.total / GIB == pytest.approx(56.9, abs=0.05)


def test_qwen3_14b_bf16_weights_are_27_5_gib() -> None:
    weights = model_weights(catalog().model("qwen3-14b"), "BF16")
    assert weights.total / GIB == pytest.approx(27.5, abs=0.05)


def test_qwen36_35b_a3b_q4_k_m_fits_one_24gb_card() -> None:
    """Seed 000: the hybrid-attention 35B-A3B at Q4_K_M runs entirely on a 24 GB card."""
    result = plan("RTX 4090, 64GB", models=("qwen3.6-35b-a3b",), engines=("llama.cpp",))
    chosen = result.chosen
    assert chosen is not None
    assert (chosen.fmt, chosen.mode) == ("Q4_K_M", "gpu")
    assert "--n-cpu-moe" not in chosen.flags
    assert chosen.margin_bytes > 0


def test_mixtral_8x7b_q4_on_24gb_needs_expert_offload() -> None:
    result = plan(
        "RTX 4090, 64GB", models=("mixtral-8x7b",), engines=("llama.cpp",), objective="quality"
    )
    chosen = result.chosen
    assert chosen is not None and chosen.fmt in ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")
    q4 = [o for o in [chosen] if o.fmt == "Q4_K_M"]
    # Whatever mix wins, a Q4_K_M Mixtral 8x7B (26 GiB of weights) cannot be all on 24 GB:
    weights = model_weights(catalog().model("mixtral-8x7b"), "Q4_K_M")
    assert weights.total > 23 * GIB
    assert chosen.mode == "expert_offload"
    n_cpu_moe = int(chosen.flags[chosen.flags.index("--n-cpu-moe") + 1])
    assert 0 < n_cpu_moe < 32
    assert not q4 or q4[0].ram_bytes > 4 * GIB


def test_mixtral_8x22b_needs_two_48gb_cards_or_offload() -> None:
    two = plan("2x RTX A6000, 128GB", models=("mixtral-8x22b",), engines=("llama.cpp",))
    assert two.chosen is not None
    assert two.chosen.mode == "split" and two.chosen.fmt == "Q4_K_M"
    assert "--tensor-split" in two.chosen.flags
    one = plan("RTX A6000, 128GB", models=("mixtral-8x22b",), engines=("llama.cpp",))
    assert one.chosen is not None and one.chosen.mode == "expert_offload"


def test_deepseek_v3_is_infeasible_on_a_consumer_node() -> None:
    result = plan("RTX 4090, 64GB", models=("deepseek-v3",))
    assert result.chosen is None
    reasons = {r.fmt: r.reason for r in result.rejections}
    assert "does not fit" in reasons["Q4_K_M"] and "RAM" in reasons["Q4_K_M"]
    assert "does not fit" in reasons["FP8"]
    assert "MoE floor" in reasons["Q2_K"]


def test_deepseek_v3_needs_many_gpus_or_nodes() -> None:
    cat = catalog()
    models = list(cat.models.values())
    eight = plan("8x H100 SXM, 1TB", models=("deepseek-v3",))
    assert eight.chosen is not None and len(eight.chosen.gpus) == 8
    # vLLM alone cannot fit FP8 DeepSeek-V3 (671 GB) in one 8x80 GB node: two nodes, PP=2.
    fleet = [node("8x H100 SXM, 1TB", "a"), node("8x H100 SXM, 1TB", "b")]
    demand = Demand(replicas=(("deepseek-v3", 1),), engines=("vllm",), fill_spare=False)
    result = plan_fleet(fleet, models, cat.vllm_formats, demand)
    (deployment,) = result.deployments
    assert deployment.hosts == ("a", "b") and deployment.pipeline_parallel == 2
    assert "--pipeline-parallel-size" in deployment.option.flags
    # ...and a consumer fleet reports it infeasible, naming the nearest feasible alternative.
    consumer = [node("RTX 4090, 64GB", "c")]
    short = plan_fleet(consumer, models, cat.vllm_formats, Demand(replicas=(("deepseek-v3", 1),)))
    (shortfall,) = short.shortfalls
    assert shortfall.placed == 0 and "nearest feasible" in shortfall.reason
