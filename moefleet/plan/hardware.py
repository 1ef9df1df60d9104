"""What the planner needs to know about a node, from probed facts or a --what-if description.

Unknown numbers are never silently invented: each assumption (an unknown GPU's bandwidth, the
RAM bandwidth of a CPU family) is recorded as a note that the plan prints with its reasons.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from moefleet.catalog.model import GpuSpec
from moefleet.facts.model import HARD_SLOWDOWN_REASONS, CpuFacts, GpuFacts, HostFacts

MIB = 1024**2
GIB = 1024**3
#: PCIe usable GB/s per lane by generation (after line coding).
PCIE_GBPS_PER_LANE = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}

#: Peak RAM bandwidth per socket by CPU family (GB/s): channels x transfer rate x 8 bytes of
#: the platform's usual memory (desktop 2 x DDR5-5600, HEDT 4 x DDR5-5200, workstation and
#: server 8 x DDR5-4800, 12 x DDR5-4800 for EPYC 9004). A CPU not listed gets the desktop
#: figure. moefleet's own assumption: calibration (moefleet calibrate) corrects it.
RAM_GBPS_BY_FAMILY: tuple[tuple[str, float], ...] = (
    (r"epyc\s+9\d\d\d", 460.0),
    (r"epyc", 205.0),
    (r"xeon.*(platinum|gold|silver|max)", 307.0),
    (r"threadripper\s+pro|xeon\s+w", 307.0),
    (r"threadripper", 166.0),
    (r"xeon", 140.0),
)
DESKTOP_RAM_GBPS = 89.6
#: Gen4 x16: the link the seeds ask for before offloading experts (GB/s, rounded down).
FULL_LINK_GBPS = 31.0


@dataclass(frozen=True)
class Gpu:
    """One GPU as the planner sees it."""

    index: int
    name: str
    vram_bytes: int
    free_bytes: int
    compute_capability: float
    bandwidth_gbs: float
    fp16_tflops: float
    pcie_gbs: float
    throttled: bool = False
    known: bool = True
    consumer: bool = False
    """GeForce: the catalog's FP16 figure is FP32-accumulate, which these cards run at half
    rate; llama.cpp's quantized matmuls (int8 MMA, int32 accumulate) run at full rate"""

    @property
    def matmul_tflops(self) -> float:
        """Throughput llama.cpp's quantized prefill kernels scale with (see ``consumer``)."""
        return self.fp16_tflops * (2.0 if self.consumer else 1.0)

    @property
    def flash_attention(self) -> bool:
        return self.compute_capability >= 8.0


@dataclass(frozen=True)
class Node:
    """A host's planning-relevant hardware."""

    name: str
    gpus: tuple[Gpu, ...]
    ram_bytes: int
    ram_available_bytes: int
    cpu_threads: int
    ram_bandwidth_gbs: float
    avx2: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def signature(self) -> tuple[object, ...]:
        """Nodes with equal signatures get equal plans (fleets repeat a few configurations)."""
        return (
            self.gpus,
            self.ram_bytes // GIB,
            self.cpu_threads,
            self.ram_bandwidth_gbs,
            self.avx2,
        )


def ram_bandwidth(cpu: CpuFacts | None) -> tuple[float, str | None]:
    """Estimated peak RAM bandwidth for a CPU, and the note that says it is an estimate.

    One socket's worth: llama.cpp's CPU kernels do not scale across NUMA nodes (weights are
    not interleaved per socket), so a second socket adds threads, not usable bandwidth."""
    model = (cpu.model or "").lower() if cpu else ""
    for pattern, gbps in RAM_GBPS_BY_FAMILY:
        if re.search(pattern, model):
            return gbps, None
    return (
        DESKTOP_RAM_GBPS,
        f"RAM bandwidth assumed {DESKTOP_RAM_GBPS:.0f} GB/s (desktop "
        "dual channel) for an unrecognised CPU",
    )


def _pcie_gbs(gpu: GpuFacts) -> float:
    link = gpu.pcie
    gen = link.gen_max or 4
    width = link.width_current or link.width_max or 16
    return PCIE_GBPS_PER_LANE.get(gen, 1.969) * width


def plan_gpu(gpu: GpuFacts, spec: GpuSpec | None) -> tuple[Gpu, str | None]:
    """A probed GPU with catalog throughput figures (or cautious defaults, with a note)."""
    total = (gpu.memory_total_mib or 0) * MIB
    used = (gpu.memory_used_mib or 0) * MIB
    free = (gpu.memory_free_mib * MIB) if gpu.memory_free_mib is not None else total - used
    capability = float(gpu.compute_capability or (spec.compute_capability if spec else "0"))
    note = None
    if spec is None:
        note = f"GPU {gpu.index} ({gpu.name}) is not in the catalog: assuming 300 GB/s, 30 TFLOPS"
    return Gpu(
        index=gpu.index,
        name=gpu.name,
        vram_bytes=total,
        free_bytes=free,
        compute_capability=capability,
        bandwidth_gbs=spec.memory_bandwidth_gbs if spec else 300.0,
        fp16_tflops=spec.fp16_tflops if spec else 30.0,
        pcie_gbs=_pcie_gbs(gpu),
        throttled=bool(set(gpu.throttle_reasons) & HARD_SLOWDOWN_REASONS),
        known=spec is not None,
        consumer="geforce" in gpu.name.lower(),
    ), note


def node_from_facts(facts: HostFacts, find_gpu: Callable[[str], GpuSpec | None]) -> Node:
    """A Node from probed facts; ``find_gpu(name)`` looks the GPU up in the catalog."""
    notes: list[str] = []
    gpus = []
    for gpu in facts.gpus:
        if gpu.vendor != "nvidia" or gpu.mig_enabled:
            notes.append(
                f"GPU {gpu.index} ({gpu.name}) skipped: "
                f"{'MIG-partitioned' if gpu.mig_enabled else 'not an NVIDIA GPU'}"
            )
            continue
        planned, note = plan_gpu(gpu, find_gpu(gpu.name))
        gpus.append(planned)
        if note:
            notes.append(note)
    for planned_gpu in gpus:
        if planned_gpu.pcie_gbs < FULL_LINK_GBPS:
            notes.append(
                f"GPU {planned_gpu.index} PCIe link {planned_gpu.pcie_gbs:.0f} GB/s, below Gen4 "
                "x16: plans that cross PCIe (offload) are slowed accordingly"
            )
    bandwidth, note = ram_bandwidth(facts.cpu)
    if note:
        notes.append(note)
    memory = facts.memory
    return Node(
        name=facts.host,
        gpus=tuple(gpus),
        ram_bytes=memory.total_bytes if memory else 0,
        ram_available_bytes=(memory.available_bytes or memory.total_bytes) if memory else 0,
        cpu_threads=(facts.cpu.threads or 1) if facts.cpu else 1,
        ram_bandwidth_gbs=bandwidth,
        avx2=bool(facts.cpu.avx2) if facts.cpu else True,
        notes=tuple(notes),
    )
