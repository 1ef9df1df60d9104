"""What the TUI can start (after a confirmation): a deploy of the current plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from moefleet.deploy.run import DeployOptions, DeployOutcome, deploy_plan, run_deploy
from moefleet.inventory import Inventory
from moefleet.playbook.events import Event
from moefleet.state import StateStore


@dataclass(frozen=True)
class DeployRequest:
    """Everything a deploy started from the UI needs (given on `moefleet tui`'s command line)."""

    inventory: Inventory
    api_key: str | None = None
    plan_file: Path | None = None


def deploy_now(
    state_path: Path, request: DeployRequest, on_event: Callable[[Event], None] | None = None
) -> DeployOutcome:
    """Deploy the plan (reviewed file, or made now) to the inventory's hosts; blocking — run
    it in a worker. Progress lands in the state journal, which the rollout screen follows."""
    hosts = list(request.inventory.hosts)
    with StateStore(state_path) as state:
        probes = state.latest_probes(hosts)
        plan = deploy_plan(probes, hosts, request.plan_file)
        return run_deploy(
            list(plan.deployment),
            request.inventory,
            {h: p.facts for h, p in probes.items()},
            DeployOptions(),
            state,
            api_key=request.api_key,
            on_event=on_event,
        )
