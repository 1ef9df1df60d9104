"""Decode and prefill tokens/s for a placement: a roofline over the devices a token visits.

Decode: every step reads, on each device, the weights it holds that the step touches — all
non-expert weights, and of the routed experts only those some sequence in the batch was routed
to: with ``B`` sequences each picking ``k`` of ``E`` experts, ``E·(1 - (1 - k/E)^B)`` distinct
experts per layer (seed 002: why a MoE that wins at batch 1 can lose to a dense model under
load). Reads go at the device's bandwidth times an efficiency; layers run one after another, so
the devices' times add; a fixed cost per layer covers launches and routing; the step cannot be
faster than its FLOPs allow.

Prefill: FLOPs at an efficiency of the GPU's tensor throughput; expert or layer weights that
live in RAM are copied to the GPU once per micro-batch over PCIe (llama.cpp offloads large
batches), which is where an x8 riser halves the speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import accumulate

from moefleet.catalog.model import ModelSpec
from moefleet.plan.efficiency import Efficiency
from moefleet.plan.hardware import Node
from moefleet.plan.memory_llama import CPU, LlamaSettings, device_ranges, layer_devices
from moefleet.plan.placement import Placement
from moefleet.plan.tensors import has_kv
from moefleet.plan.weights import ModelWeights

#: Bandwidth kept by a GPU the probe saw throttling (thermal or power): a documented guess
#: until calibration measures the host.
THROTTLED_FACTOR = 0.8


@dataclass(frozen=True)
class Speed:
    """Predicted throughput of one deployment."""

    decode_tps: float
    """tokens/s of one sequence at batch 1"""
    prefill_tps: float
    batch: int
    batch_decode_tps: float
    """aggregate tokens/s with ``batch`` concurrent sequences"""
    notes: tuple[str, ...] = ()


def distinct_expert_fraction(active: int, experts: int, batch: int) -> float:
    """Expected share of a layer's experts touched by ``batch`` tokens routed top-k."""
    return 1.0 - (1.0 - active / experts) ** batch


def _kv_bytes_per_token_layer(weights: ModelWeights, settings: LlamaSettings) -> float:
    model = weights.model
    if model.mla is not None:
        width = model.mla.kv_lora_rank + model.mla.qk_rope_head_dim
        return width * 2.0
    return 2 * model.kv_heads * model.head_dim * (1.0 if "q8" in settings.type_k else 2.0)


@cache
def _kv_prefix(model: ModelSpec) -> tuple[int, ...]:
    """Running count of layers holding a KV cache."""
    return (
        0,
        *accumulate(int(model.mla is not None or has_kv(model, i)) for i in range(model.layers)),
    )


def _step_seconds(
    weights: ModelWeights,
    node: Node,
    placement: Placement,
    settings: LlamaSettings,
    eff: Efficiency,
    batch: int,
    depth: int,
) -> tuple[float, float]:
    """(memory-bound seconds, compute-bound seconds) of one decode step of ``batch`` tokens."""
    model = weights.model
    n_layer = model.layers
    moe = model.moe
    fraction = distinct_expert_fraction(moe.active, moe.experts, batch) if moe else 0.0
    layers, experts, kv_layers = weights.layer_prefix, weights.expert_prefix, _kv_prefix(model)
    kv_read = _kv_bytes_per_token_layer(weights, settings) * depth * batch
    moe_cut = min(placement.n_cpu_moe, n_layer)
    read: dict[int, float] = {CPU: experts[moe_cut] * fraction}
    output_device = CPU
    for device, first, end in device_ranges(n_layer, placement.gpu_layers, placement.splits):
        if end > n_layer:
            output_device = device
        last = min(end, n_layer)
        own_experts = experts[last] - experts[max(first, min(last, moe_cut))]
        read[device] = (
            read.get(device, 0.0)
            + layers[last] - layers[first] - (experts[last] - experts[first])
            + own_experts * fraction
            + (kv_layers[last] - kv_layers[first]) * kv_read
        )  # fmt: skip
    cpu_layers = sum(1 for size in weights.layer_expert_bytes[:moe_cut] if size)
    output = weights.non_layer_bytes - weights.by_class.get("embeddings", 0)
    if model.tied_embeddings:
        output += weights.by_class.get("embeddings", 0)
    read[output_device] = read.get(output_device, 0.0) + output
    seconds = 0.0
    for device, size in read.items():
        if device == CPU:
            seconds += size / (node.ram_bandwidth_gbs * 1e9 * eff.cpu_bandwidth)
        else:
            gpu = node.gpus[placement.gpus[device]]
            factor = THROTTLED_FACTOR if gpu.throttled else 1.0
            seconds += size / (gpu.bandwidth_gbs * 1e9 * eff.gpu_bandwidth * factor)
    seconds += model.layers * eff.layer_overhead_s + cpu_layers * eff.cpu_layer_overhead_s
    flops = 2.0 * _active_params(weights) * batch
    return seconds, flops


def _active_params(weights: ModelWeights) -> float:
    return weights.model.active_params_b * 1e9


def _prefill_tps(
    weights: ModelWeights, node: Node, placement: Placement, eff: Efficiency, n_ubatch: int
) -> float:
    model = weights.model
    flops_per_token = 2.0 * _active_params(weights)
    if not placement.gpus:
        return node.cpu_threads * eff.cpu_gflops_per_thread * 1e9 / flops_per_token
    gpus = [node.gpus[i] for i in placement.gpus]
    share = eff.prefill_flops_moe if model.moe else eff.prefill_flops_dense
    tflops = min(g.matmul_tflops for g in gpus) * len(gpus)
    compute = flops_per_token / (tflops * 1e12 * share)
    devices = layer_devices(model.layers, placement.gpu_layers, placement.splits)
    copied = 0
    for layer in range(model.layers):
        if devices[layer] == CPU:
            copied += weights.layer_bytes[layer]
        elif layer < placement.n_cpu_moe:
            copied += weights.layer_expert_bytes[layer]
    pcie = min(g.pcie_gbs for g in gpus) * 1e9 * eff.pcie
    transfer = copied / pcie / n_ubatch
    return 1.0 / (compute + transfer)


def predict_speed(
    weights: ModelWeights,
    node: Node,
    placement: Placement,
    settings: LlamaSettings,
    eff: Efficiency,
    batch: int = 1,
    depth: int = 0,
) -> Speed:
    """Decode (batch 1 and ``batch``) and prefill tokens/s of a llama.cpp-style placement."""
    notes = []
    if any(node.gpus[i].throttled for i in placement.gpus):
        notes.append(f"GPU throttling seen by the probe: decode derated to {THROTTLED_FACTOR:.0%}")
    compute_rate = _compute_rate(node, placement, eff, weights)

    def tps(b: int) -> float:
        memory_s, flops = _step_seconds(weights, node, placement, settings, eff, b, depth)
        return b / max(memory_s, flops / compute_rate)

    return Speed(
        decode_tps=tps(1),
        prefill_tps=_prefill_tps(weights, node, placement, eff, settings.n_ubatch),
        batch=batch,
        batch_decode_tps=tps(batch),
        notes=tuple(notes),
    )


def _compute_rate(
    node: Node, placement: Placement, eff: Efficiency, weights: ModelWeights
) -> float:
    """FLOP/s available to a decode step (the prefill efficiency of the devices used)."""
    if not placement.gpus:
        return node.cpu_threads * eff.cpu_gflops_per_thread * 1e9
    share = eff.prefill_flops_moe if weights.model.moe else eff.prefill_flops_dense
    return sum(node.gpus[i].matmul_tflops for i in placement.gpus) * 1e12 * share
