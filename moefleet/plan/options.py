"""The planner's vocabulary: a candidate deployment (Option), a rejected one, a node's result."""

from __future__ import annotations

from dataclasses import dataclass, field

from moefleet.catalog.model import ModelSpec
from moefleet.plan.demand import EngineName
from moefleet.plan.hardware import Node
from moefleet.plan.speed import Speed

#: Placements that keep every weight in VRAM (anything else offloads to RAM or runs on CPU).
FULL_GPU_MODES = frozenset({"gpu", "split", "tensor_parallel", "multi_node"})


@dataclass(frozen=True)
class Option:
    """One way to serve a model on a node: engine, format, GPUs, flags and predictions."""

    model: ModelSpec
    fmt: str
    engine: EngineName
    mode: str
    gpus: tuple[int, ...]
    replicas: int
    flags: tuple[str, ...]
    vram_per_gpu: tuple[tuple[int, int], ...]
    """(GPU index, bytes) for one replica"""
    vram_capacity: int
    """usable bytes of the tightest GPU (after the safety margin)"""
    ram_bytes: int
    speed: Speed
    quality: float
    reasons: tuple[str, ...] = ()
    score: float = 0.0

    @property
    def margin_bytes(self) -> int:
        """VRAM left on the fullest GPU after the safety margin."""
        used = max((b for _, b in self.vram_per_gpu), default=0)
        return self.vram_capacity - used if self.vram_per_gpu else 0

    @property
    def memory_bytes(self) -> int:
        return sum(b for _, b in self.vram_per_gpu) + (self.ram_bytes if not self.gpus else 0)

    @property
    def aggregate_tps(self) -> float:
        return self.speed.batch_decode_tps * self.replicas

    @property
    def label(self) -> str:
        return f"{self.model.id} {self.fmt} ({self.engine})"


@dataclass(frozen=True)
class Rejection:
    """A candidate that lost before ranking, and why."""

    model_id: str
    fmt: str
    engine: EngineName
    reason: str


@dataclass(frozen=True)
class NodeResult:
    """The chosen option for a node, the ranked runners-up and every rejection."""

    node: Node
    chosen: Option | None
    ranked: tuple[Option, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    notes: tuple[str, ...] = field(default=())
