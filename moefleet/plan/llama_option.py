"""A llama.cpp candidate on one node: the smallest GPU group it fits, its flags and speed."""

from __future__ import annotations

from moefleet.catalog.model import ModelSpec
from moefleet.plan.demand import Demand
from moefleet.plan.efficiency import Efficiency
from moefleet.plan.hardware import FULL_LINK_GBPS, GIB, Node
from moefleet.plan.memory_llama import HEADROOM_BYTES, LlamaSettings
from moefleet.plan.options import Option, Rejection
from moefleet.plan.placement import NoFit, Placement, place_llama
from moefleet.plan.quality import quality
from moefleet.plan.speed import predict_speed
from moefleet.plan.weights import model_weights

#: Below this much RAM, CPU expert offload is possible but not comfortable (seeds 000/001).
COMFORTABLE_OFFLOAD_RAM = 64 * 10**9


def gpu_groups(count: int) -> list[tuple[int, ...]]:
    """GPU sets tried for one replica: 1, 2, 4, 8 and all GPUs (smallest first)."""
    sizes = sorted({k for k in (1, 2, 4, 8) if k <= count} | ({count} if count else set()))
    return [tuple(range(k)) for k in sizes]


def llama_settings(
    node: Node, demand: Demand, gpus: tuple[int, ...]
) -> tuple[LlamaSettings, list[str]]:
    """Flash attention and KV types the hardware allows."""
    notes = []
    flash = all(node.gpus[i].flash_attention for i in gpus)
    kv_type = demand.kv_type
    if not flash:
        notes.append("flash attention off: compute capability < 8.0 (needs Ampere or newer)")
        if kv_type != "f16":
            notes.append(
                f"KV cache f16 instead of {kv_type}: a quantized V cache needs flash attention"
            )
            kv_type = "f16"
    settings = LlamaSettings(
        n_ctx=demand.context * demand.concurrency,
        n_seq=demand.concurrency,
        type_k=kv_type,
        type_v=kv_type,
        flash_attn=flash,
    )
    return settings, notes


def _flags(placement: Placement, settings: LlamaSettings, node: Node) -> tuple[str, ...]:
    flags = [
        "-c",
        str(settings.n_ctx),
        "-np",
        str(settings.n_seq),
        "-ngl",
        str(placement.gpu_layers),
    ]
    if placement.n_cpu_moe:
        flags += ["--n-cpu-moe", str(placement.n_cpu_moe)]
    if placement.tensor_split:
        flags += ["--tensor-split", ",".join(f"{s:g}" for s in placement.tensor_split)]
    flags += ["-fa", "on" if settings.flash_attn else "off"]
    if settings.type_k != "f16":
        flags += ["-ctk", settings.type_k, "-ctv", settings.type_v]
    if placement.mode in ("expert_offload", "layer_offload", "cpu"):
        flags += ["-t", str(max(1, node.cpu_threads // 2))]
    return tuple(flags)


def _placement_notes(placement: Placement, node: Node) -> list[str]:
    notes = []
    if placement.mode == "expert_offload":
        notes.append(f"experts of the first {placement.n_cpu_moe} layers in RAM (--n-cpu-moe)")
    elif placement.mode == "layer_offload":
        notes.append(f"{placement.gpu_layers} of the layers on the GPU, the rest on the CPU")
    elif placement.mode == "cpu":
        notes.append("CPU only")
    if placement.mode in ("expert_offload", "layer_offload"):
        if node.ram_bytes < COMFORTABLE_OFFLOAD_RAM:
            notes.append(
                f"warning: offload with only {node.ram_bytes / GIB:.0f} GiB of RAM (< 64 GB)"
            )
        slow = [g for g in (node.gpus[i] for i in placement.gpus) if g.pcie_gbs < FULL_LINK_GBPS]
        for gpu in slow:
            notes.append(
                f"warning: GPU {gpu.index} PCIe link {gpu.pcie_gbs:.0f} GB/s (< Gen4 x16): "
                "offloaded prefill slowed accordingly"
            )
    return notes


def llama_option(
    model: ModelSpec, mix: str, node: Node, demand: Demand, eff: Efficiency
) -> Option | Rejection:
    """The best llama.cpp placement of ``model`` in ``mix`` on ``node``, or why none."""
    weights = model_weights(model, mix)
    groups = gpu_groups(len(node.gpus)) or [()]
    chosen: tuple[Placement, LlamaSettings, list[str]] | None = None
    last: NoFit | None = None
    for gpus in groups:
        settings, notes = llama_settings(node, demand, gpus)
        placement = place_llama(weights, node, settings, gpus, full_only=gpus != groups[-1])
        if isinstance(placement, NoFit):
            last = placement
            continue
        if placement.mode in ("gpu", "split") or gpus == groups[-1]:
            chosen = (placement, settings, notes)
            break
    if chosen is None:
        return Rejection(model.id, mix, "llama.cpp", last.reason if last else "no placement")
    placement, settings, notes = chosen
    full = placement.mode in ("gpu", "split")
    replicas = max(1, len(node.gpus) // max(1, len(placement.gpus))) if full else 1
    speed = predict_speed(weights, node, placement, settings, eff, batch=demand.concurrency)
    vram = tuple(sorted((i, m.total) for i, m in placement.gpu_memory().items()))
    capacity = min((node.gpus[i].vram_bytes for i in placement.gpus), default=0) - HEADROOM_BYTES
    ram = placement.ram_bytes * (replicas if not placement.gpus else 1)
    return Option(
        model=model,
        fmt=mix,
        engine="llama.cpp",
        mode=placement.mode,
        gpus=placement.gpus,
        replicas=replicas,
        flags=_flags(placement, settings, node),
        vram_per_gpu=vram,
        vram_capacity=max(0, capacity),
        ram_bytes=ram,
        speed=speed,
        quality=quality(model, mix),
        reasons=tuple(notes + _placement_notes(placement, node) + list(speed.notes)),
    )
