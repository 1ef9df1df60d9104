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


def bench_now(state_path: Path, request: DeployRequest, requests: int = 12) -> int:
    """Benchmark every stored deployment on the inventory's hosts (concurrency 1 and 4) and
    store the results; blocking — run it in a worker. Returns how many were measured."""
    from moefleet.bench.client import LoadSpec  # noqa: PLC0415
    from moefleet.bench.fleet import bench_deployment  # noqa: PLC0415
    from moefleet.bench.workload import Workload  # noqa: PLC0415
    from moefleet.transport import ConnectOptions  # noqa: PLC0415

    levels = [LoadSpec(requests, concurrency=c, warmup=1) for c in (1, 4)]
    options = ConnectOptions.from_settings(request.inventory.settings)
    measured = 0
    with StateStore(state_path) as state:
        for deployment in state.deployments():
            host = request.inventory.hosts.get(deployment["host"])
            if host is None:
                continue
            workload = Workload(model=deployment["model"], input_tokens=64, output_tokens=32)
            _, record = bench_deployment(
                deployment, host, workload, levels, request.api_key, None, options
            )
            state.save_benchmark(deployment["host"], deployment["service"], record)
            measured += 1
    return measured
