"""Plan a whole fleet: best model per node, or the replicas the user asked for.

Nodes with the same hardware signature get the same answer, computed once (fleets repeat a few
configurations), so a thousand hosts cost little more than their distinct configurations.

With ``Demand.replicas`` each wanted model is placed, biggest first, on the nodes that serve it
best, one replica at a time on the node's free GPUs, so a multi-GPU node can host several
models; nodes left over serve more replicas of the wanted models. A model no single node can
hold is planned across nodes with vLLM pipeline parallelism over Ray when enough identical
free nodes exist, and otherwise reported infeasible with the nearest feasible alternative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from moefleet.catalog.model import ModelSpec, VllmFormat
from moefleet.plan.calibration import Calibration
from moefleet.plan.demand import Demand
from moefleet.plan.efficiency import VLLM, Efficiency
from moefleet.plan.hardware import Node
from moefleet.plan.memory_vllm import GPU_MEMORY_UTILIZATION, vllm_memory
from moefleet.plan.node_plan import plan_node
from moefleet.plan.options import NodeResult, Option
from moefleet.plan.quality import quality
from moefleet.plan.vllm_option import vllm_speed


@dataclass(frozen=True)
class Deployment:
    """One replica (or one multi-node instance) of a model: where, how, and why."""

    hosts: tuple[str, ...]
    option: Option
    gpus: tuple[int, ...]
    """GPU indexes on the (first) host"""
    pipeline_parallel: int = 1

    @property
    def host(self) -> str:
        return self.hosts[0]


@dataclass(frozen=True)
class Shortfall:
    """A wanted model the fleet cannot fully serve, and what comes closest."""

    model_id: str
    wanted: int
    placed: int
    reason: str


@dataclass(frozen=True)
class FleetPlan:
    """Deployments per host, per-node results for ``--explain``, and what could not be met."""

    demand: Demand
    deployments: tuple[Deployment, ...]
    results: Mapping[str, NodeResult]
    shortfalls: tuple[Shortfall, ...] = ()
    idle: tuple[str, ...] = field(default=())

    def for_host(self, host: str) -> list[Deployment]:
        return [d for d in self.deployments if host in d.hosts]


class _Planner:
    """Memoizes plan_node by (node signature, model filter)."""

    def __init__(
        self,
        models: Sequence[ModelSpec],
        formats: Mapping[str, VllmFormat],
        demand: Demand,
        efficiency: Mapping[str, Efficiency] | None,
        calibration: Calibration | None = None,
    ) -> None:
        self.models, self.formats, self.demand = models, formats, demand
        self.efficiency, self.calibration = efficiency, calibration
        self.memo: dict[tuple[object, ...], NodeResult] = {}

    def result(self, node: Node, only: tuple[str, ...] = ()) -> NodeResult:
        key = (node.signature, only)
        cached = self.memo.get(key)
        if cached is None:
            demand = replace(self.demand, models=only) if only else self.demand
            cached = plan_node(
                node, self.models, self.formats, demand, self.efficiency, self.calibration
            )
            self.memo[key] = cached
        return replace(cached, node=node) if cached.node is not node else cached


def plan_fleet(
    nodes: Sequence[Node],
    models: Sequence[ModelSpec],
    vllm_formats: Mapping[str, VllmFormat],
    demand: Demand,
    efficiency: Mapping[str, Efficiency] | None = None,
    calibration: Calibration | None = None,
) -> FleetPlan:
    """The fleet's plan for ``demand`` (pure: no I/O, no clock)."""
    planner = _Planner(models, vllm_formats, demand, efficiency, calibration)
    results = {node.name: planner.result(node) for node in nodes}
    if not demand.replicas:
        deployments = [
            Deployment((name,), r.chosen, _replica_gpus(r.chosen, i))
            for name, r in results.items()
            if r.chosen
            for i in range(r.chosen.replicas)
        ]
        idle = tuple(name for name, r in results.items() if r.chosen is None)
        return FleetPlan(demand, tuple(deployments), results, (), idle)
    return _plan_replicas(nodes, planner, results, demand)


def _replica_gpus(option: Option, replica: int) -> tuple[int, ...]:
    width = len(option.gpus)
    return tuple(range(replica * width, (replica + 1) * width))


def _plan_replicas(
    nodes: Sequence[Node], planner: _Planner, results: dict[str, NodeResult], demand: Demand
) -> FleetPlan:
    by_id = {m.id: m for m in planner.models}
    free: dict[str, list[int]] = {n.name: [g.index for g in n.gpus] for n in nodes}
    used_cpu: set[str] = set()
    node_by_name = {n.name: n for n in nodes}
    deployments: list[Deployment] = []
    shortfalls: list[Shortfall] = []
    wanted = sorted(
        ((mid, count) for mid, count in demand.replicas),
        key=lambda item: -(by_id[item[0]].total_params_b if item[0] in by_id else 0),
    )
    for model_id, count in wanted:
        if model_id not in by_id:
            shortfalls.append(Shortfall(model_id, count, 0, "not in the catalog"))
            continue
        placed = _place_model(model_id, count, nodes, planner, free, used_cpu, deployments)
        if placed < count:
            placed += _place_multi_node(
                by_id[model_id], count - placed, nodes, planner, free, deployments
            )
        if placed < count:
            shortfalls.append(
                Shortfall(model_id, count, placed, _nearest(by_id[model_id], nodes, planner))
            )
    # Leftover capacity serves more replicas of the wanted models, best first.
    wanted_ids = tuple(mid for mid, _ in wanted if mid in by_id) if demand.fill_spare else ()
    for node in nodes:
        while wanted_ids:
            sub = _sub_node(node_by_name[node.name], free[node.name], node.name in used_cpu)
            if sub is None:
                break
            result = planner.result(sub, wanted_ids)
            if result.chosen is None:
                break
            _take(node, result.chosen, free, used_cpu, deployments)
    idle = tuple(n.name for n in nodes if not any(n.name in d.hosts for d in deployments))
    return FleetPlan(demand, tuple(deployments), results, tuple(shortfalls), idle)


def _sub_node(node: Node, free_gpus: list[int], cpu_used: bool) -> Node | None:
    """The part of ``node`` still free (its free GPUs renumbered from 0), or None."""
    if not node.gpus:
        return None if cpu_used else node
    if not free_gpus:
        return None
    gpus = tuple(replace(node.gpus[i], index=k) for k, i in enumerate(free_gpus))
    return replace(node, gpus=gpus)


def _take(
    node: Node,
    option: Option,
    free: dict[str, list[int]],
    used_cpu: set[str],
    deployments: list[Deployment],
) -> None:
    if not option.gpus:
        used_cpu.add(node.name)
        deployments.append(Deployment((node.name,), option, ()))
        return
    gpus = tuple(free[node.name][i] for i in option.gpus)
    free[node.name] = [g for g in free[node.name] if g not in gpus]
    deployments.append(Deployment((node.name,), option, gpus))


def _place_model(
    model_id: str,
    count: int,
    nodes: Sequence[Node],
    planner: _Planner,
    free: dict[str, list[int]],
    used_cpu: set[str],
    deployments: list[Deployment],
) -> int:
    """Replicas of one model on single nodes, best-scoring nodes first; each replica on the
    fewest free GPUs that serve it, so that GPUs are left for the next replicas."""
    placed = 0
    while placed < count:
        best: tuple[float, Node, Option] | None = None
        for node in nodes:
            chosen = _fewest_gpus(node, model_id, planner, free, used_cpu)
            if chosen and (best is None or chosen.score > best[0]):
                best = (chosen.score, node, chosen)
        if best is None:
            break
        _take(best[1], best[2], free, used_cpu, deployments)
        placed += 1
    return placed


def _fewest_gpus(
    node: Node,
    model_id: str,
    planner: _Planner,
    free: dict[str, list[int]],
    used_cpu: set[str],
) -> Option | None:
    """The model's option on the smallest group (1, 2, 4, 8, all) of the node's free GPUs."""
    free_gpus = free[node.name]
    sizes = sorted({k for k in (1, 2, 4, 8) if k < len(free_gpus)} | {len(free_gpus)})
    for size in sizes:
        sub = _sub_node(node, free_gpus[:size], node.name in used_cpu)
        if sub is None:
            return None
        chosen = planner.result(sub, (model_id,)).chosen
        if chosen is not None:
            return chosen
    return None


def _place_multi_node(
    model: ModelSpec,
    count: int,
    nodes: Sequence[Node],
    planner: _Planner,
    free: dict[str, list[int]],
    deployments: list[Deployment],
) -> int:
    """vLLM pipeline parallel over whole free nodes with the same GPU count (one Ray cluster
    per replica; tensor parallel inside a node, pipeline stages across nodes)."""
    placed = 0
    for fmt_name in model.vllm_formats:
        fmt = planner.formats.get(fmt_name)
        if fmt is None:
            continue
        candidates = [
            n
            for n in nodes
            if n.gpus
            and len(free[n.name]) == len(n.gpus)
            and min(g.compute_capability for g in n.gpus) >= max(7.0, fmt.min_compute_capability)
        ]
        by_width: dict[int, list[Node]] = {}
        for node in candidates:
            by_width.setdefault(len(node.gpus), []).append(node)
        for width, group in sorted(by_width.items(), reverse=True):
            group.sort(key=lambda n: -min(g.vram_bytes for g in n.gpus))
            while placed < count:
                chosen = _smallest_pipeline(model, fmt, group, width, planner.demand)
                if chosen is None:
                    break
                stages, memory_total = chosen
                for node in stages:
                    free[node.name] = []
                group[:] = [n for n in group if n not in stages]
                option = _multi_node_option(model, fmt, stages, width, memory_total, planner)
                deployments.append(
                    Deployment(
                        tuple(n.name for n in stages),
                        option,
                        tuple(range(width)),
                        pipeline_parallel=len(stages),
                    )
                )
                placed += 1
        if placed >= count:
            break
    return placed


def _smallest_pipeline(
    model: ModelSpec, fmt: VllmFormat, group: list[Node], width: int, demand: Demand
) -> tuple[list[Node], int] | None:
    if model.heads % width:
        return None
    for stages in range(2, len(group) + 1):
        chosen = group[:stages]
        gpu_bytes = min(g.vram_bytes for n in chosen for g in n.gpus)
        memory = vllm_memory(
            model,
            fmt.bits_per_weight,
            gpu_bytes,
            width,
            demand.context,
            demand.concurrency,
            pipeline_parallel=stages,
        )
        if memory.fits:
            return chosen, memory.budget
    return None


def _multi_node_option(
    model: ModelSpec,
    fmt: VllmFormat,
    stages: list[Node],
    width: int,
    budget: int,
    planner: _Planner,
) -> Option:
    """The option for a model served by vLLM across ``stages`` nodes of ``width`` GPUs."""
    demand = planner.demand
    eff = (planner.efficiency or {}).get("vllm") or VLLM
    gpus = [g for node in stages for g in node.gpus]
    speed = vllm_speed(model, fmt, gpus, demand.concurrency, eff, pipeline_parallel=len(stages))
    flags = (
        "--tensor-parallel-size", str(width),
        "--pipeline-parallel-size", str(len(stages)),
        "--distributed-executor-backend", "ray",
        "--gpu-memory-utilization", f"{GPU_MEMORY_UTILIZATION:g}",
        "--max-model-len", str(demand.context),
        "--max-num-seqs", str(max(1, demand.concurrency)),
    )  # fmt: skip
    return Option(
        model=model,
        fmt=fmt.name,
        engine="vllm",
        mode="multi_node",
        gpus=tuple(range(width)),
        replicas=1,
        flags=flags,
        vram_per_gpu=tuple((i, budget) for i in range(width)),
        vram_capacity=budget,
        ram_bytes=2 * 1024**3,
        speed=speed,
        quality=quality(model, fmt.name),
        reasons=(
            f"too big for any single node: {len(stages)} nodes x {width} GPUs, vLLM pipeline "
            "parallel over Ray (tensor parallel inside each node)",
        ),
    )


def _nearest(model: ModelSpec, nodes: Sequence[Node], planner: _Planner) -> str:
    """Why a model cannot be placed, and the best feasible model closest in quality."""
    target = quality(model, "Q4_K_M")
    best: tuple[float, str] | None = None
    for node in nodes:
        for option in planner.result(node).ranked:
            gap = abs(option.quality - target)
            if option.model.id != model.id and (best is None or gap < best[0]):
                best = (gap, f"{option.label} on {node.name}")
    alternative = f"; nearest feasible: {best[1]}" if best else ""
    return f"no node or group of free nodes can hold {model.name}{alternative}"
