"""``--what-if "2x RTX 3090, 64GB"``: plan for hardware that is not bought yet.

A description is comma-separated parts: ``[N x] GPU NAME`` (any name the catalog matches),
``NN GB`` / ``NN GiB`` of RAM, ``NN threads`` and ``cpu: MODEL`` (for its RAM bandwidth).
Missing parts default to 64 GB of RAM and 16 threads, and are listed in the node's notes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from moefleet.catalog.model import GpuSpec
from moefleet.errors import MoefleetError
from moefleet.facts.model import CpuFacts
from moefleet.plan.hardware import GIB, PCIE_GBPS_PER_LANE, Gpu, Node, ram_bandwidth

_RAM = re.compile(r"^(\d+(?:\.\d+)?)\s*(gb|gib|g|tb|tib)(?:\s+(?:of\s+)?ram)?$", re.IGNORECASE)
_GPUS = re.compile(r"^(?:(\d+)\s*[x\u00d7*]\s*)?(.+)$", re.IGNORECASE)
_THREADS = re.compile(r"^(\d+)\s*(?:threads|cores|vcpus?)$", re.IGNORECASE)


class WhatIfError(MoefleetError):
    """A --what-if description that cannot be understood."""


def _ram_bytes(amount: float, unit: str) -> int:
    unit = unit.lower()
    scale = {"gb": 10**9, "g": 10**9, "gib": GIB, "tb": 10**12, "tib": 1024 * GIB}[unit]
    return int(amount * scale)


def parse_what_if(
    text: str, find_gpu: Callable[[str], GpuSpec | None], name: str | None = None
) -> Node:
    """A Node from a description such as ``"2x RTX 3090, 64GB"``."""
    gpus: list[Gpu] = []
    ram: int | None = None
    threads: int | None = None
    cpu_model: str | None = None
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        if match := _RAM.match(part):
            ram = _ram_bytes(float(match.group(1)), match.group(2))
        elif match := _THREADS.match(part):
            threads = int(match.group(1))
        elif part.lower().startswith("cpu:"):
            cpu_model = part[4:].strip()
        elif (match := _GPUS.match(part)) and (spec := find_gpu(match.group(2))):
            for _ in range(int(match.group(1) or 1)):
                gpus.append(_gpu(len(gpus), spec))
        else:
            raise WhatIfError(
                f"--what-if: cannot read {part!r}",
                'expected parts like "2x RTX 3090", "64GB", "32 threads" or "cpu: EPYC 9654"; '
                "GPU names come from `moefleet models list --gpus`",
            )
    notes = []
    if ram is None:
        ram = 64 * 10**9
        notes.append("what-if: RAM not given, assuming 64 GB")
    if threads is None:
        threads = 16
        notes.append("what-if: CPU threads not given, assuming 16")
    bandwidth, note = ram_bandwidth(CpuFacts(model=cpu_model) if cpu_model else None)
    if note:
        notes.append(note)
    return Node(
        name=name or f"what-if: {text.strip()}",
        gpus=tuple(gpus),
        ram_bytes=ram,
        ram_available_bytes=ram,
        cpu_threads=threads,
        ram_bandwidth_gbs=bandwidth,
        notes=tuple(notes),
    )


def _gpu(index: int, spec: GpuSpec) -> Gpu:
    vram = int(spec.vram_gib * GIB)
    return Gpu(
        index=index,
        name=spec.name,
        vram_bytes=vram,
        free_bytes=vram,
        compute_capability=float(spec.compute_capability),
        bandwidth_gbs=spec.memory_bandwidth_gbs,
        fp16_tflops=spec.fp16_tflops,
        pcie_gbs=PCIE_GBPS_PER_LANE.get(spec.pcie_gen or 4, 1.969) * 16,
        consumer="geforce" in spec.name.lower(),
    )
