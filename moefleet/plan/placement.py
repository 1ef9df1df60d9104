"""Where a model's weights go on one node under llama.cpp: the cheapest placement that fits.

Tried in order, each only if the previous one does not fit:

1. everything on the GPUs (one GPU, or split by ``--tensor-split`` across several);
2. MoE: the smallest ``--n-cpu-moe N`` (experts of the first N layers in RAM; attention,
   shared experts and the KV cache stay on the GPU);
3. whole-layer offload (``-ngl``): the most layers that fit on the GPUs;
4. CPU only.

Every GPU keeps ``HEADROOM_BYTES`` free; RAM must hold what stays on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from moefleet.plan.hardware import GIB, Gpu, Node
from moefleet.plan.memory_llama import (
    CPU,
    HEADROOM_BYTES,
    DeviceMemory,
    LlamaSettings,
    llama_memory,
)
from moefleet.plan.weights import ModelWeights

Mode = Literal["gpu", "split", "expert_offload", "layer_offload", "cpu"]
#: Process memory of llama-server besides its buffers (binary, libraries, tokenizer).
PROCESS_RAM_BYTES = GIB // 2


@dataclass(frozen=True)
class Placement:
    """A fitting llama.cpp placement and the memory it needs per device."""

    mode: Mode
    gpus: tuple[int, ...]
    gpu_layers: int
    n_cpu_moe: int
    splits: tuple[float, ...]
    devices: tuple[DeviceMemory, ...]

    @property
    def ram_bytes(self) -> int:
        cpu = next((d for d in self.devices if d.device == CPU), None)
        return (cpu.total if cpu else 0) + PROCESS_RAM_BYTES

    def gpu_memory(self) -> dict[int, DeviceMemory]:
        """Memory per GPU, keyed by the node's GPU index."""
        return {self.gpus[d.device]: d for d in self.devices if d.device != CPU}

    @property
    def tensor_split(self) -> tuple[float, ...] | None:
        return self.splits if len(self.gpus) > 1 else None


@dataclass(frozen=True)
class NoFit:
    """Why no placement fits, with the smallest need seen."""

    reason: str


def _capacity(gpu: Gpu) -> int:
    return gpu.vram_bytes - HEADROOM_BYTES


def _fits(memory: dict[int, DeviceMemory], gpus: tuple[Gpu, ...]) -> bool:
    return all(memory[i].total <= _capacity(g) for i, g in enumerate(gpus) if i in memory)


def _balanced_splits(
    evaluate: Callable[[tuple[float, ...]], dict[int, DeviceMemory]], gpus: tuple[Gpu, ...]
) -> tuple[tuple[float, ...], dict[int, DeviceMemory]]:
    """Splits proportional to capacity, then nudged away from GPUs that overflow."""
    largest = max((_capacity(g) for g in gpus), default=1)
    splits = tuple(round(_capacity(g) / largest, 3) for g in gpus)  # equal GPUs: all 1.0
    memory = evaluate(splits)
    need = sum(m.total for i, m in memory.items() if 0 <= i < len(gpus))
    if need > sum(_capacity(g) for g in gpus):
        return tuple(round(s / sum(splits), 3) for s in splits), memory  # no split can fit
    for _ in range(6):
        if len(gpus) == 1 or _fits(memory, gpus):
            break
        ratios = [
            _capacity(g) / max(1, memory[i].total) if i in memory else 1.0
            for i, g in enumerate(gpus)
        ]
        splits = tuple(s * min(2.0, r) for s, r in zip(splits, ratios, strict=True))
        memory = evaluate(splits)
    return tuple(round(s / sum(splits), 3) for s in splits), memory


def _smallest(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """Smallest n in [low, high] with fits(n), assuming monotonicity; None if none fits."""
    if not fits(high):
        return None
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return low


def place_llama(
    weights: ModelWeights,
    node: Node,
    settings: LlamaSettings,
    gpu_ids: tuple[int, ...],
    full_only: bool = False,
) -> Placement | NoFit:
    """The first placement (in the order of the module docstring) that fits; with
    ``full_only``, only an all-on-GPU placement (offload is not worth sizing)."""
    model = weights.model
    gpus = tuple(node.gpus[i] for i in gpu_ids)
    n_layer = model.layers
    ram = node.ram_available_bytes or node.ram_bytes

    def build(mode: Mode, gpu_layers: int, n_cpu_moe: int) -> Placement:
        splits, memory = _balanced_splits(
            lambda s: llama_memory(weights, settings, gpu_layers, s, n_cpu_moe), gpus
        )
        return Placement(mode, gpu_ids, gpu_layers, n_cpu_moe, splits, tuple(memory.values()))

    def ok(placement: Placement) -> bool:
        memory = {d.device: d for d in placement.devices}
        return _fits(memory, gpus) and placement.ram_bytes <= ram

    if gpus:
        full = build("gpu" if len(gpus) == 1 else "split", n_layer + 1, 0)
        if ok(full):
            return full
        if full_only:
            return NoFit("does not fit on these GPUs without offload")
        if model.moe is not None:
            cpu_moe = _smallest(lambda n: ok(build("expert_offload", n_layer + 1, n)), 1, n_layer)
            if cpu_moe is not None:
                return build("expert_offload", n_layer + 1, cpu_moe)
        fewest_cpu = _smallest(lambda n: ok(build("layer_offload", n_layer + 1 - n, 0)), 1, n_layer)
        if fewest_cpu is not None:
            return build("layer_offload", n_layer + 1 - fewest_cpu, 0)
    cpu_only = Placement(
        "cpu", (), 0, 0, (), tuple(llama_memory(weights, settings, 0, ()).values())
    )
    if cpu_only.ram_bytes <= ram:
        return cpu_only
    need = cpu_only.ram_bytes / GIB
    if not gpus:
        return NoFit(f"needs {need:.1f} GiB of RAM on the CPU, {ram / GIB:.1f} GiB available")
    usable = sum(_capacity(g) for g in gpus) / GIB
    return NoFit(
        f"does not fit: {need:.1f} GiB in all, more than VRAM ({usable:.1f} GiB usable) "
        f"plus RAM ({ram / GIB:.1f} GiB available)"
    )
