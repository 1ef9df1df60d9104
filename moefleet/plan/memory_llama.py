"""What llama.cpp allocates where, for a given layer placement.

Mirrors ``llama_model::load_tensors`` (source: ``src/llama-model.cpp``): the input embedding
always stays on the CPU; with ``-ngl N`` the last ``N`` of the ``n_layer + 1`` slots (repeating
layers, then the output layer) go to the GPUs, spread by the cumulative ``--tensor-split``
fractions; ``--n-cpu-moe N`` keeps the expert tensors of the first N layers on the CPU. Each
layer's KV cache lives on that layer's device.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

from moefleet.catalog.model import ModelSpec
from moefleet.plan.compute_buffer import compute_buffer, host_compute_buffer
from moefleet.plan.kv import llama_kv, stream_cells, swa_cells
from moefleet.plan.tensors import has_kv
from moefleet.plan.weights import ModelWeights

MIB = 1024**2
#: CUDA context and cuBLAS workspace per GPU that llama.cpp uses (source: reference
#: "CUDA context overhead per GPU": 107-555 MiB measured; a mid value, calibrated later).
CUDA_CONTEXT_BYTES = 350 * MIB
#: Memory llama.cpp's own --fit keeps free per device by default (source: llama.cpp logs,
#: "free vs. target of 1024"); moefleet keeps the same safety margin.
HEADROOM_BYTES = 1024 * MIB
CPU = -1


@dataclass(frozen=True)
class LlamaSettings:
    """Runtime flags that change memory: ``-c``, ``-np``, ``-ctk/-ctv``, ``-fa``, ``-ub``."""

    n_ctx: int = 8192
    n_seq: int = 1
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: bool = True
    n_ubatch: int = 512


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes one device (a GPU index, or CPU = -1) holds."""

    device: int
    weights: int = 0
    kv: int = 0
    compute: int = 0
    overhead: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute + self.overhead


@cache
def device_ranges(
    n_layer: int, gpu_layers: int, splits: tuple[float, ...]
) -> tuple[tuple[int, int, int], ...]:
    """(device, first slot, end slot) runs over the ``n_layer + 1`` slots (repeating layers,
    then the output layer), as llama.cpp assigns them: slot ``il`` goes to the first GPU whose
    cumulative split exceeds ``(il - start) / active`` (cached: fleets repeat placements)."""
    total = sum(splits) or 1.0
    cumulative = [c / total for c in accumulate(splits)]
    start = max(n_layer + 1 - gpu_layers, 0)
    active = min(gpu_layers, n_layer + 1) if splits else 0
    runs: list[list[int]] = []
    for slot in range(n_layer + 1):
        if slot < start or slot - start >= active:
            device = CPU
        else:
            device = min(bisect_right(cumulative, (slot - start) / active), len(splits) - 1)
        if runs and runs[-1][0] == device:
            runs[-1][2] = slot + 1
        else:
            runs.append([device, slot, slot + 1])
    return tuple((d, a, b) for d, a, b in runs)


def layer_devices(n_layer: int, gpu_layers: int, splits: tuple[float, ...]) -> list[int]:
    """Device of each repeating layer and (last entry) of the output layer, as llama.cpp."""
    devices = [CPU] * (n_layer + 1)
    for device, first, end in device_ranges(n_layer, gpu_layers, splits):
        devices[first:end] = [device] * (end - first)
    return devices


@cache
def kv_prefix(model: ModelSpec, settings: LlamaSettings) -> tuple[int, ...]:
    """Running sums of each layer's KV (or recurrent state) bytes."""
    size = llama_kv(
        model, settings.n_ctx, settings.n_seq, settings.type_k, settings.type_v, settings.n_ubatch
    )
    holds_kv = [model.mla is not None or has_kv(model, layer) for layer in range(model.layers)]
    kv_layers = max(1, sum(holds_kv))
    recurrent_layers = max(1, model.layers - sum(holds_kv))
    per_layer = (
        size.kv_bytes // kv_layers if kv else size.recurrent_bytes // recurrent_layers
        for kv in holds_kv
    )
    return (0, *accumulate(per_layer))


def llama_memory(
    weights: ModelWeights,
    settings: LlamaSettings,
    gpu_layers: int,
    splits: tuple[float, ...],
    n_cpu_moe: int = 0,
) -> dict[int, DeviceMemory]:
    """Memory per device (GPU indexes into ``splits``, and CPU) for one placement."""
    key = ("llama_memory", settings, gpu_layers, splits, n_cpu_moe)
    cached = weights.memo.get(key)
    if not isinstance(cached, dict):
        cached = _llama_memory(weights, settings, gpu_layers, splits, n_cpu_moe)
        weights.memo[key] = cached
    return dict(cached)


def _llama_memory(
    weights: ModelWeights,
    settings: LlamaSettings,
    gpu_layers: int,
    splits: tuple[float, ...],
    n_cpu_moe: int,
) -> dict[int, DeviceMemory]:
    model = weights.model
    n_layer = model.layers
    layers, experts = weights.layer_prefix, weights.expert_prefix
    kv = kv_prefix(model, settings)
    moe_cut = min(n_cpu_moe, n_layer)
    cpu_experts = experts[moe_cut]
    embeddings = weights.by_class.get("embeddings", 0)
    output_bytes = weights.non_layer_bytes - embeddings
    parts: dict[int, list[int]] = {CPU: [embeddings + cpu_experts, 0, 0]}
    output_device = CPU
    biggest_cpu_layer = max(weights.layer_expert_bytes[:moe_cut], default=0)
    for device, first, end in device_ranges(n_layer, gpu_layers, splits):
        if end > n_layer:
            output_device = device
        end = min(end, n_layer)  # noqa: PLW2901 - the output slot is handled below
        moe_end = max(first, min(end, moe_cut))
        on_cpu = experts[moe_end] - experts[first]
        entry = parts.setdefault(device, [0, 0, 0])
        entry[0] += layers[end] - layers[first] - on_cpu
        entry[1] += kv[end] - kv[first]
        entry[2] += end - first
        if device == CPU and end > first:
            biggest_cpu_layer = max(biggest_cpu_layer, *weights.layer_bytes[first:end])
    if model.tied_embeddings and output_device != CPU:
        output_bytes += embeddings
    parts.setdefault(output_device, [0, 0, 0])[0] += output_bytes

    n_kv, _ = stream_cells(settings.n_ctx, settings.n_seq)
    n_kv_swa = swa_cells(model, n_kv, settings.n_seq, settings.n_ubatch)
    gpus = sorted(d for d in parts if d != CPU)
    result: dict[int, DeviceMemory] = {}
    for device, (weight_bytes, kv_bytes, n_layers) in parts.items():
        is_gpu = device != CPU
        compute = compute_buffer(
            model,
            n_kv,
            settings.n_ubatch,
            settings.flash_attn,
            has_output=output_device == device,
            has_layers=n_layers > 0,
            offloaded_weight_copy=biggest_cpu_layer if gpus and device == gpus[0] else 0,
            n_kv_swa=n_kv_swa,
        )
        if not is_gpu and gpus:
            compute = host_compute_buffer(model, settings.n_ubatch) if not n_layers else compute
        result[device] = DeviceMemory(
            device=device,
            weights=weight_bytes,
            kv=kv_bytes,
            compute=compute,
            overhead=CUDA_CONTEXT_BYTES if is_gpu else 0,
        )
    return result
