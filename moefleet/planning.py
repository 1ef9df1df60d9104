"""Glue for ``moefleet plan``: stored facts (or --what-if hardware) to nodes, demand to a plan.

The planner itself (``moefleet.plan``) is pure; this module reads the state store and the
catalog and says which hosts could not be planned and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from moefleet.catalog.load import Catalog
from moefleet.errors import MoefleetError
from moefleet.plan.calibration import Calibration
from moefleet.plan.demand import Demand
from moefleet.plan.fleet import FleetPlan, plan_fleet
from moefleet.plan.hardware import Node, node_from_facts
from moefleet.plan.whatif import parse_what_if
from moefleet.probe import HostProbe


@dataclass(frozen=True)
class PlanInput:
    """Nodes to plan, and the hosts left out with the reason."""

    nodes: tuple[Node, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def nodes_from_probes(
    hosts: Sequence[str], probes: dict[str, HostProbe], catalog: Catalog
) -> PlanInput:
    """A Node per host with stored facts; hosts without usable facts are skipped."""
    nodes: list[Node] = []
    skipped: list[tuple[str, str]] = []
    for host in hosts:
        probe = probes.get(host)
        if probe is None:
            skipped.append((host, "never probed: run `moefleet probe` first"))
        elif probe.facts is None:
            skipped.append((host, f"last probe {probe.status}: {probe.error or 'no facts'}"))
        elif probe.facts.gpu_status not in ("ok", "none"):
            skipped.append(
                (
                    host,
                    f"GPU facts unusable ({probe.facts.gpu_status}): fix the driver or "
                    "nvidia-smi and probe again (planning it CPU-only would leave its GPUs idle)",
                )
            )
        else:
            node = node_from_facts(probe.facts, catalog.find_gpu)
            nodes.append(replace(node, name=host))
    return PlanInput(tuple(nodes), tuple(skipped))


def nodes_from_what_if(descriptions: Iterable[str], catalog: Catalog) -> PlanInput:
    """One node per --what-if description (named what-if-1, what-if-2...)."""
    nodes = tuple(
        parse_what_if(text, catalog.find_gpu, name=f"what-if-{i}")
        for i, text in enumerate(descriptions, 1)
    )
    return PlanInput(nodes)


def parse_replicas(items: Iterable[str], catalog: Catalog) -> tuple[tuple[str, int], ...]:
    """``--want MODEL=N`` (N defaults to 1) with ids checked against the catalog."""
    wanted: list[tuple[str, int]] = []
    for item in items:
        model_id, _, count = item.partition("=")
        catalog.model(model_id.strip())
        try:
            replicas = int(count) if count else 1
        except ValueError:
            raise MoefleetError(
                f"--want {item!r}: the replica count must be a whole number", "e.g. qwen3-8b=2"
            ) from None
        if replicas < 1:
            raise MoefleetError(f"--want {item!r}: at least one replica")
        wanted.append((model_id.strip(), replicas))
    return tuple(wanted)


def make_plan(
    plan_input: PlanInput,
    catalog: Catalog,
    demand: Demand,
    calibration: Calibration | None = None,
) -> FleetPlan:
    """Plan ``plan_input``'s nodes with every catalog model (pure once inputs are read);
    speeds corrected by ``calibration`` (``moefleet calibrate``) when given."""
    for model_id in demand.models:
        catalog.model(model_id)
    models = list(catalog.models.values())
    return plan_fleet(
        plan_input.nodes, models, catalog.vllm_formats, demand, calibration=calibration
    )


def write_plan(path: Path, data: dict[str, Any]) -> None:
    """Write the plan TOML atomically (a temp file beside it, then rename)."""
    import tomli_w  # noqa: PLC0415

    text = "# moefleet plan: review, then `moefleet deploy --plan-file` it\n" + tomli_w.dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        raise MoefleetError(f"cannot write the plan to {path}: {exc.strerror}") from exc
