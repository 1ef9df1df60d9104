"""The speed model against published measurements, and the policy rules the seeds set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from moefleet.plan.demand import Demand
from moefleet.plan.efficiency import LLAMA_CPP
from moefleet.plan.hardware import Node
from moefleet.plan.memory_llama import LlamaSettings, llama_memory
from moefleet.plan.node_plan import plan_node
from moefleet.plan.placement import Placement, place_llama
from moefleet.plan.speed import distinct_expert_fraction, predict_speed
from moefleet.plan.weights import model_weights
from tests.plan.helpers import catalog, node, plan

SETTINGS = LlamaSettings(n_ctx=4096)


def _full_gpu_speed(model_id: str, mix: str, hardware: str) -> tuple[float, float]:
    weights = model_weights(catalog().model(model_id), mix)
    target = node(hardware)
    placement = place_llama(weights, target, SETTINGS, (0,))
    assert isinstance(placement, Placement) and placement.mode == "gpu"
    speed = predict_speed(weights, target, placement, SETTINGS, LLAMA_CPP)
    return speed.decode_tps, speed.prefill_tps


@pytest.mark.parametrize(
    ("model_id", "mix", "hardware", "decode", "prefill"),
    [
        # planner_facts "measurements": llama-bench tg128 / pp512, model fully on the GPU.
        ("qwen3-30b-a3b", "Q4_K_M", "RTX PRO 6000 Blackwell, 128GB", 251.0, 7432.0),
        ("gpt-oss-20b", "MXFP4_MOE", "RTX 5090, 64GB", 362.6, 9898.0),
    ],
)
def test_decode_matches_measurements_within_15_percent(
    model_id: str, mix: str, hardware: str, decode: float, prefill: float
) -> None:
    predicted_decode, predicted_prefill = _full_gpu_speed(model_id, mix, hardware)
    assert predicted_decode == pytest.approx(decode, rel=0.15)
    assert predicted_prefill == pytest.approx(prefill, rel=0.35)


@pytest.mark.parametrize(
    ("n_cpu_moe", "decode", "prefill"), [(16, 62.9, 487.0), (24, 50.9, 373.0), (40, 37.0, 265.0)]
)
def test_expert_offload_matches_quadro_rtx_5000(
    n_cpu_moe: int, decode: float, prefill: float
) -> None:
    """Quadro RTX 5000 (PCIe 3.0 x16), JEDEC 4000 MT/s dual-channel RAM, Qwen3-30B-A3B
    Q4_K_M with --n-cpu-moe N (planner_facts "measurements")."""
    weights = model_weights(catalog().model("qwen3-30b-a3b"), "Q4_K_M")
    base = node("Quadro RTX 5000, 64GB, 12 threads")
    target = Node(**{**base.__dict__, "ram_bandwidth_gbs": 64.0})
    memory = llama_memory(weights, SETTINGS, 49, (1.0,), n_cpu_moe)
    placement = Placement("expert_offload", (0,), 49, n_cpu_moe, (1.0,), tuple(memory.values()))
    speed = predict_speed(weights, target, placement, SETTINGS, LLAMA_CPP)
    assert speed.decode_tps == pytest.approx(decode, rel=0.1)
    assert speed.prefill_tps == pytest.approx(prefill, rel=0.15)


def test_x8_riser_halves_offloaded_prefill() -> None:
    weights = model_weights(catalog().model("qwen3-30b-a3b"), "Q4_K_M")
    full = node("RTX 3090, 64GB")
    riser = Node(
        **{
            **full.__dict__,
            "gpus": (
                full.gpus[0].__class__(
                    **{**full.gpus[0].__dict__, "pcie_gbs": full.gpus[0].pcie_gbs / 2}
                ),
            ),
        }
    )
    memory = llama_memory(weights, SETTINGS, 49, (1.0,), 48)
    placement = Placement("expert_offload", (0,), 49, 48, (1.0,), tuple(memory.values()))
    fast = predict_speed(weights, full, placement, SETTINGS, LLAMA_CPP).prefill_tps
    slow = predict_speed(weights, riser, placement, SETTINGS, LLAMA_CPP).prefill_tps
    assert 0.5 < slow / fast < 0.6


def test_distinct_experts_grow_with_batch() -> None:
    assert distinct_expert_fraction(8, 128, 1) == pytest.approx(8 / 128)
    assert distinct_expert_fraction(8, 128, 64) == pytest.approx(1 - (120 / 128) ** 64)
    assert distinct_expert_fraction(8, 128, 256) > 0.999


def test_moe_advantage_shrinks_under_load() -> None:
    """Seed 002: a 30B-A3B beats a dense 14B at batch 1 but reads nearly all its experts at
    high batch, so its lead per sequence shrinks (or flips)."""
    ratios = []
    for batch in (1, 8, 64):
        demand = Demand(concurrency=batch, context=2048, engines=("llama.cpp",))
        moe = plan("H100 SXM, 256GB", demand, models=("qwen3-30b-a3b",)).chosen
        dense = plan("H100 SXM, 256GB", demand, models=("qwen3-14b",)).chosen
        assert moe is not None and dense is not None
        ratios.append(moe.speed.batch_decode_tps / dense.speed.batch_decode_tps)
    assert ratios[0] > 1.5
    assert ratios[0] > ratios[1] > ratios[2]


def test_throttling_derates_decode() -> None:
    weights = model_weights(catalog().model("qwen3-8b"), "Q4_K_M")
    cool = node("RTX 4090, 64GB")
    hot = Node(
        **{
            **cool.__dict__,
            "gpus": (cool.gpus[0].__class__(**{**cool.gpus[0].__dict__, "throttled": True}),),
        }
    )
    placement = place_llama(weights, cool, SETTINGS, (0,))
    assert isinstance(placement, Placement)
    a = predict_speed(weights, cool, placement, SETTINGS, LLAMA_CPP)
    b = predict_speed(weights, hot, placement, SETTINGS, LLAMA_CPP)
    assert b.decode_tps < a.decode_tps and b.notes


def test_moe_quant_floor_needs_opt_in() -> None:
    plain = plan("RTX 3060, 16GB", models=("qwen3-30b-a3b",), engines=("llama.cpp",))
    risky = {r.fmt: r.reason for r in plain.rejections}
    assert "routing-collapse" in risky["Q2_K"] and "routing-collapse" in risky["Q3_K_M"]
    allowed = plan(
        "RTX 3060, 16GB",
        models=("qwen3-30b-a3b",),
        engines=("llama.cpp",),
        allow_risky_quants=True,
    )
    assert not any("routing-collapse" in r.reason for r in allowed.rejections)


def test_flash_attention_only_on_ampere_and_newer() -> None:
    old = plan("V100 SXM2 32GB, 64GB", models=("qwen3-8b",), engines=("llama.cpp",), kv_type="q8_0")
    assert old.chosen is not None
    flags = old.chosen.flags
    assert flags[flags.index("-fa") + 1] == "off" and "-ctk" not in flags
    assert any("flash attention off" in r for r in old.chosen.reasons)
    assert any("quantized V cache needs flash attention" in r for r in old.chosen.reasons)
    new = plan("RTX 4090, 64GB", models=("qwen3-8b",), engines=("llama.cpp",), kv_type="q8_0")
    assert new.chosen is not None
    assert new.chosen.flags[new.chosen.flags.index("-fa") + 1] == "on"
    assert "-ctk" in new.chosen.flags


def test_offload_below_64gb_ram_warns() -> None:
    result = plan("RTX 4090, 32GB", models=("mixtral-8x7b",), engines=("llama.cpp",))
    assert result.chosen is not None and result.chosen.mode == "expert_offload"
    assert any("RAM" in r and "64 GB" in r for r in result.chosen.reasons)


def test_prefers_q4_k_m_and_goes_up_when_room_allows() -> None:
    small = plan("RTX 4090, 64GB", models=("qwen3-32b",), engines=("llama.cpp",))
    assert small.chosen is not None and small.chosen.fmt == "Q4_K_M"
    roomy = plan("H100 SXM, 256GB", models=("qwen3-8b",), engines=("llama.cpp",))
    assert roomy.chosen is not None and roomy.chosen.fmt == "Q8_0"
    lost = {r.fmt: r.reason for r in roomy.rejections}
    assert lost == {}  # Q8_0 fit first: nothing smaller was even sized


def test_objective_changes_the_choice() -> None:
    quality = plan("2x RTX A6000, 128GB", objective="quality").chosen
    throughput = plan("2x RTX A6000, 128GB", objective="throughput", concurrency=16).chosen
    assert quality is not None and throughput is not None
    assert quality.quality > throughput.quality
    assert throughput.aggregate_tps > quality.aggregate_tps


def test_trust_remote_code_needs_opt_in() -> None:
    model = catalog().model("qwen3-8b").model_copy(update={"trust_remote_code": True})
    target = node("RTX 4090, 64GB")
    demand = Demand(engines=("vllm",))
    refused = plan_node(target, [model], catalog().vllm_formats, demand)
    assert refused.chosen is None
    assert all("--trust-remote-code" in r.reason for r in refused.rejections)
    consent = replace(demand, trust_remote_code=True)
    allowed = plan_node(target, [model], catalog().vllm_formats, consent)
    assert allowed.chosen is not None and "--trust-remote-code" in allowed.chosen.flags


def test_min_decode_rejects_slow_options() -> None:
    result = plan("64GB, 16 threads", models=("qwen3-32b",), min_decode_tps=20)
    assert result.chosen is None
    assert any("below the 20 tok/s" in r.reason for r in result.rejections)
