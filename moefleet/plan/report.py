"""A fleet plan as plain data (for TOML, JSON and the views), with a reason for every loss."""

from __future__ import annotations

from typing import Any

from moefleet.plan.demand import Demand
from moefleet.plan.fleet import Deployment, FleetPlan
from moefleet.plan.hardware import GIB
from moefleet.plan.options import FULL_GPU_MODES, NodeResult, Option, Rejection

PLAN_FORMAT_VERSION = 1


def why_lost(winner: Option, loser: Option, demand: Demand) -> str:
    """One line on why ``loser`` ranked below ``winner`` for the demand's objective."""
    causes = []
    if loser.quality < winner.quality * 0.98:
        causes.append(f"lower quality proxy {loser.quality:.1f} vs {winner.quality:.1f}")
    if loser.speed.decode_tps < winner.speed.decode_tps * 0.9:
        causes.append(f"slower {loser.speed.decode_tps:.0f} vs {winner.speed.decode_tps:.0f} tok/s")
    if loser.mode not in FULL_GPU_MODES and winner.mode in FULL_GPU_MODES:
        causes.append("needs offload")
    if loser.memory_bytes > winner.memory_bytes * 1.1:
        causes.append(
            f"more memory {loser.memory_bytes / GIB:.1f} vs {winner.memory_bytes / GIB:.1f} GiB"
        )
    detail = "; ".join(causes) if causes else "ties broken by throughput, then memory"
    return f"{demand.objective} score {loser.score:.2f} < {winner.score:.2f}: {detail}"


def _round(value: float, digits: int = 1) -> float:
    return round(value, digits)


def option_data(option: Option) -> dict[str, Any]:
    """The predicted figures of an option."""
    return {
        "vram_gib": [_round(b / GIB, 2) for _, b in option.vram_per_gpu],
        "vram_usable_gib": _round(option.vram_capacity / GIB, 2),
        "margin_gib": _round(option.margin_bytes / GIB, 2),
        "ram_gib": _round(option.ram_bytes / GIB, 2),
        "decode_tps": _round(option.speed.decode_tps),
        "prefill_tps": _round(option.speed.prefill_tps, 0),
        "batch": option.speed.batch,
        "batch_decode_tps": _round(option.speed.batch_decode_tps),
        "quality": _round(option.quality, 2),
        "score": _round(option.score, 3),
    }


def deployment_data(
    deployment: Deployment, result: NodeResult | None, demand: Demand
) -> dict[str, Any]:
    """One deployment with its runners-up (from the host's ranking)."""
    option = deployment.option
    data: dict[str, Any] = {
        "hosts": list(deployment.hosts),
        "model": option.model.id,
        "model_name": option.model.name,
        "format": option.fmt,
        "engine": option.engine,
        "mode": option.mode,
        "gpus": list(deployment.gpus),
        "flags": list(option.flags),
        "predicted": option_data(option),
        "reasons": list(option.reasons),
    }
    if option.model.hf_repo:
        data["hf_repo"] = option.model.hf_repo
    if deployment.pipeline_parallel > 1:
        data["pipeline_parallel"] = deployment.pipeline_parallel
    if result is not None:
        runners = [o for o in result.ranked if o.label != option.label][: demand.alternatives]
        data["alternatives"] = [
            {"option": o.label, "mode": o.mode, "why_not": why_lost(option, o, demand)}
            for o in runners
        ]
    return data


def rejection_data(rejection: Rejection) -> dict[str, str]:
    return {
        "model": rejection.model_id,
        "format": rejection.fmt,
        "engine": rejection.engine,
        "reason": rejection.reason,
    }


def plan_data(plan: FleetPlan) -> dict[str, Any]:
    """The whole plan as TOML-ready data (``moefleet plan -o plan.toml``)."""
    demand = plan.demand
    data: dict[str, Any] = {
        "plan": {
            "format_version": PLAN_FORMAT_VERSION,
            "objective": demand.objective,
            "context": demand.context,
            "concurrency": demand.concurrency,
            "allow_risky_quants": demand.allow_risky_quants,
            "trust_remote_code": demand.trust_remote_code,
        },
        "deployment": [
            deployment_data(d, plan.results.get(d.host), demand) for d in plan.deployments
        ],
    }
    if demand.replicas:
        data["plan"]["replicas"] = {model: count for model, count in demand.replicas}
    if plan.shortfalls:
        data["shortfall"] = [
            {"model": s.model_id, "wanted": s.wanted, "placed": s.placed, "reason": s.reason}
            for s in plan.shortfalls
        ]
    if plan.idle:
        data["idle"] = {
            "hosts": list(plan.idle),
            "reasons": {host: _idle_reason(plan.results.get(host)) for host in plan.idle},
        }
    notes = {name: list(r.notes) for name, r in plan.results.items() if r.notes}
    if notes:
        data["notes"] = notes
    return data


def _idle_reason(result: NodeResult | None) -> str:
    if result is None or result.chosen is None:
        return "no candidate fits this host (see --explain)"
    return "its capacity was not needed for the requested replicas"


def explain_data(result: NodeResult, demand: Demand) -> dict[str, Any]:
    """Every candidate for one host: ranked options with their scores, then rejections."""
    winner = result.chosen
    ranked = []
    for rank, option in enumerate(result.ranked, 1):
        entry = {"rank": rank, "option": option.label, "mode": option.mode, **option_data(option)}
        entry["flags"] = list(option.flags)
        entry["reasons"] = list(option.reasons)
        if winner is not None and option is not winner:
            entry["why_not"] = why_lost(winner, option, demand)
        ranked.append(entry)
    return {
        "host": result.node.name,
        "objective": demand.objective,
        "notes": list(result.notes),
        "ranked": ranked,
        "rejected": [rejection_data(r) for r in result.rejections],
    }
