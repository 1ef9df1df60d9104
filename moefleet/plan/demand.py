"""What the user asks the planner for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Objective = Literal["quality", "throughput", "balanced", "quality-per-gb"]
OBJECTIVES: tuple[Objective, ...] = ("quality", "throughput", "balanced", "quality-per-gb")
EngineName = Literal["llama.cpp", "vllm"]


@dataclass(frozen=True)
class Demand:
    """Objective, serving shape and opt-ins; ``replicas`` asks for specific models."""

    objective: Objective = "balanced"
    context: int = 8192
    concurrency: int = 1
    models: tuple[str, ...] = ()
    replicas: tuple[tuple[str, int], ...] = ()
    min_decode_tps: float | None = None
    engines: tuple[EngineName, ...] = ("llama.cpp", "vllm")
    allow_risky_quants: bool = False
    trust_remote_code: bool = False
    kv_type: str = "f16"
    alternatives: int = 3
    fill_spare: bool = True
    """with ``replicas``: serve more replicas of the wanted models on capacity left over"""
    notes: tuple[str, ...] = field(default=())
