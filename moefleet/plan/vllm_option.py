"""A vLLM candidate on one node: tensor parallelism, memory budget, flags and speed.

vLLM keeps everything on the GPUs (no expert offload), so it is a candidate only when the
model, the KV cache for the requested context x concurrency and vLLM's fixed overheads fit in
``--gpu-memory-utilization`` of the GPUs, and the GPUs support the checkpoint format.
"""

from __future__ import annotations

from moefleet.catalog.model import ModelSpec, VllmFormat
from moefleet.plan.demand import Demand
from moefleet.plan.efficiency import Efficiency
from moefleet.plan.hardware import Gpu, Node
from moefleet.plan.memory_vllm import (
    GPU_MEMORY_UTILIZATION,
    VllmMemory,
    vllm_expert_bytes,
    vllm_memory,
    vllm_weight_bytes,
)
from moefleet.plan.options import Option, Rejection
from moefleet.plan.quality import quality
from moefleet.plan.speed import THROTTLED_FACTOR, Speed, distinct_expert_fraction

#: vLLM's minimum compute capability (Volta); FlashAttention backends want 8.0.
VLLM_MIN_CAPABILITY = 7.0
#: Cost of the two all-reduces per layer with tensor parallelism (NVLink/PCIe), per step.
ALLREDUCE_S = 15e-6


#: Network hand-off between pipeline stages on different nodes, per decode step.
STAGE_HOP_S = 150e-6


def vllm_speed(
    model: ModelSpec,
    fmt: VllmFormat,
    gpus: list[Gpu],
    batch: int,
    eff: Efficiency,
    pipeline_parallel: int = 1,
) -> Speed:
    """Decode/prefill of ``model`` over ``gpus`` (tensor parallel within a stage, stages run
    one after another for a single sequence)."""
    tp = max(1, len(gpus) // pipeline_parallel)
    total = vllm_weight_bytes(model, fmt.bits_per_weight)
    experts = vllm_expert_bytes(model, fmt.bits_per_weight)
    bandwidth = min(g.bandwidth_gbs * (THROTTLED_FACTOR if g.throttled else 1.0) for g in gpus)
    share = eff.prefill_flops_moe if model.moe else eff.prefill_flops_dense
    stage_flops = sum(g.fp16_tflops for g in gpus[:tp]) * 1e12 * share

    def step(b: int) -> float:
        moe = model.moe
        touched = distinct_expert_fraction(moe.active, moe.experts, b) if moe else 0.0
        read = total - experts + experts * touched
        memory_s = read / tp / (bandwidth * 1e9 * eff.gpu_bandwidth)
        compute_s = 2.0 * model.active_params_b * 1e9 * b / stage_flops
        overhead = model.layers * (eff.layer_overhead_s + (2 * ALLREDUCE_S if tp > 1 else 0.0))
        return max(memory_s, compute_s) + overhead + (pipeline_parallel - 1) * STAGE_HOP_S

    prefill = stage_flops / (2.0 * model.active_params_b * 1e9)
    throttled = any(g.throttled for g in gpus)
    notes = ("GPU throttling seen by the probe: decode derated",) if throttled else ()
    return Speed(1 / step(1), prefill, batch, batch / step(batch), notes)


def _flags(model: ModelSpec, fmt: VllmFormat, tp: int, demand: Demand) -> tuple[str, ...]:
    flags = [
        "--tensor-parallel-size",
        str(tp),
        "--gpu-memory-utilization",
        f"{GPU_MEMORY_UTILIZATION:g}",
        "--max-model-len",
        str(demand.context),
        "--max-num-seqs",
        str(max(1, demand.concurrency)),
    ]
    if fmt.quantization_flag:
        flags += ["--quantization", fmt.quantization_flag]
    if model.trust_remote_code:
        flags.append("--trust-remote-code")
    return tuple(flags)


def vllm_option(
    model: ModelSpec, fmt: VllmFormat, node: Node, demand: Demand, eff: Efficiency
) -> Option | Rejection:
    """The smallest tensor-parallel group that serves ``model`` in ``fmt``, or why none."""

    def reject(reason: str) -> Rejection:
        return Rejection(model.id, fmt.name, "vllm", reason)

    if not node.gpus:
        return reject("vLLM needs a GPU")
    if model.trust_remote_code and not demand.trust_remote_code:
        return reject("needs --trust-remote-code: pass --trust-remote-code to allow it")
    capability = min(g.compute_capability for g in node.gpus)
    if capability < max(VLLM_MIN_CAPABILITY, fmt.min_compute_capability):
        needed = max(VLLM_MIN_CAPABILITY, fmt.min_compute_capability)
        return reject(
            f"{fmt.name} needs compute capability {needed:g}, this node has {capability:g}"
        )
    memory: VllmMemory | None = None
    for tp in (1, 2, 4, 8):
        if tp > len(node.gpus) or model.heads % tp:
            continue
        gpu_bytes = min(node.gpus[i].vram_bytes for i in range(tp))
        memory = vllm_memory(
            model, fmt.bits_per_weight, gpu_bytes, tp, demand.context, demand.concurrency
        )
        if memory.fits:
            speed = vllm_speed(model, fmt, list(node.gpus[:tp]), demand.concurrency, eff)
            return Option(
                model=model,
                fmt=fmt.name,
                engine="vllm",
                mode="gpu" if tp == 1 else "tensor_parallel",
                gpus=tuple(range(tp)),
                replicas=max(1, len(node.gpus) // tp),
                flags=_flags(model, fmt, tp, demand),
                vram_per_gpu=tuple((i, memory.budget) for i in range(tp)),
                vram_capacity=gpu_bytes,
                ram_bytes=2 * 1024**3,
                speed=speed,
                quality=quality(model, fmt.name),
                reasons=(
                    f"KV room {memory.kv_available / 1024**3:.1f} GiB per GPU for "
                    f"{demand.concurrency} x {demand.context} tokens",
                ),
            )
    if memory is None:
        return reject(f"{model.heads} attention heads do not split over {len(node.gpus)} GPUs")
    need = (memory.weights + memory.fixed + memory.activations + memory.kv_needed) / 1024**3
    return reject(
        f"does not fit in {GPU_MEMORY_UTILIZATION:.0%} of the GPUs: {need:.1f} GiB per GPU needed, "
        f"{memory.budget / 1024**3:.1f} GiB budget (vLLM cannot offload experts to RAM)"
    )
