"""``moefleet deploy``: plan -> services -> the deploy playbooks, run over the fleet.

The plan (a reviewed ``--plan-file`` or one made now from stored facts) becomes one
``ServiceSpec`` per replica (``targets``), each rendered to files (``moefleet.render``): for the
process backend a launcher script plus its env file, for systemd a unit plus env file. Up to
three playbook runs follow, each journaled, their reports merged into one recap:

1. ``playbooks/ray.toml`` when the plan has multi-node vLLM deployments
   (``moefleet.deploy.multinode``): Ray heads up, then workers; a server whose cluster did not
   come up is not started;
2. ``playbooks/deploy.toml`` converges every host (runtime, model, files, service) and gates it
   on health — ``/health`` 200 and a real completion — rolling back what it changed when the
   gate fails;
3. ``playbooks/front-door.toml`` when hosts set ``front_door`` (``moefleet.deploy.front_door``):
   each model's nginx over the replicas that passed their gate, validated (``nginx -t``),
   reloaded, gated by a real completion through it, rolled back when that fails (not in a
   ``--limit`` run, which would leave out replicas).

The API key is read from a 0600 file on the controller, written 0600 on the host, and never
appears in argv, output, logs or the journal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from moefleet.deploy.front_door import FrontDoor, front_doors
from moefleet.deploy.multinode import RayCluster, ray_cluster, ray_host_vars, rollout_order
from moefleet.deploy.planfile import PlanFile, PlannedDeployment, parse_plan, read_plan
from moefleet.deploy.rollout import (
    DoorResult,
    door_host_vars,
    healthy_hosts,
    merge_reports,
    record_front_doors,
)
from moefleet.deploy.targets import DeployError, DeployTarget, ModelSource, deploy_targets
from moefleet.facts.model import HostFacts
from moefleet.inventory import Inventory
from moefleet.playbook import RunOptions, load_playbook, run_playbook
from moefleet.playbook.events import Event, RunReport
from moefleet.render import render_service
from moefleet.render.units import HOST_HOME
from moefleet.state import StateStore
from moefleet.transport import ConnectOptions

HEALTH_TIMEOUT_S = 120


@dataclass(frozen=True)
class DeployOptions:
    """What the user asked for on the command line."""

    check: bool = False
    diff: bool = False
    limit: str | None = None
    forks: int | None = None
    timeout: float = 600.0
    health_timeout: int = HEALTH_TIMEOUT_S
    quality_reference: str | None = None
    """``moefleet gate record`` output: each server is judged against it before it counts"""
    gate_limits: tuple[float, float] = (0.80, 0.15)
    """fail below this top-1 agreement, or above this mean truncated KL"""


@dataclass(frozen=True)
class DeployOutcome:
    """The playbooks' merged report plus what was never attempted, per host ("front door
    MODEL" keys: a front door that was not deployed)."""

    report: RunReport | None
    targets: tuple[DeployTarget, ...]
    problems: dict[str, str] = field(default_factory=dict)
    front_doors: tuple[DoorResult, ...] = ()
    clusters: tuple[RayCluster, ...] = ()


@cache
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_var(source: ModelSource, dest: str) -> dict[str, Any]:
    """fetch_model arguments; a controller file is hashed here (cached by mtime and size)."""
    entry: dict[str, Any] = {"dest": dest, "sha256": source.sha256, "size": source.size}
    if source.path:
        stat = Path(source.path).stat()
        entry.update(src=source.path, size=stat.st_size)
        entry["sha256"] = source.sha256 or _file_digest(source.path, stat.st_mtime_ns, stat.st_size)
    elif source.hf_file:
        entry.update(hf_repo=source.hf_repo, hf_file=source.hf_file, revision=source.revision)
    else:
        entry["url"] = source.url
    return entry


def _runtime_var(target: DeployTarget) -> dict[str, Any]:
    """install_runtime arguments: use ``binary``, or install into ``dest`` (upload ``src``,
    ``build`` from source, or pip-install into the ``venv``); ``binary`` is then inside it."""
    runtime = target.runtime
    if runtime.dest and (runtime.src or runtime.build or runtime.venv):
        binary = PurePosixPath(runtime.binary).relative_to(runtime.dest)
        entry: dict[str, Any] = {"dest": runtime.dest, "binary": str(binary)}
        for key in ("src", "build", "venv"):
            if getattr(runtime, key):
                entry[key] = getattr(runtime, key)
        return entry
    return {"binary": runtime.binary}


def _gate(spec: Any, options: DeployOptions, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Files and argv of the on-host quality gate for ``spec``."""
    script = f"{spec.workdir}/{spec.name}.gate.py"
    steps = f"{spec.workdir}/{spec.name}.gate.json"
    source = resources.files("moefleet") / "bench" / "gate_host.py"
    files.append({"path": script, "content": source.read_text(encoding="utf-8"), "mode": "0755",
                  "secret": False})  # fmt: skip
    files.append({"path": steps, "content": options.quality_reference, "mode": "0644",
                  "secret": False})  # fmt: skip
    top1, kl = options.gate_limits
    argv = ["python3", script, "--url", spec.url, "--steps", steps, "--fail-top1", str(top1),
            "--fail-kl", str(kl)]  # fmt: skip
    if spec.api_key_file:
        argv += ["--key-file", spec.api_key_file]
    return {"argv": argv}


def service_var(
    target: DeployTarget,
    api_key: str | None,
    options: DeployOptions | None = None,
    after: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One entry of the deploy playbook's ``services`` list (``after``: units it needs first,
    e.g. the Ray head of a multi-node vLLM server)."""
    spec = target.service
    files = [
        {"path": f.path, "content": f.content, "mode": f"{f.mode:04o}", "secret": f.secret}
        for f in render_service(spec, home=HOST_HOME, after=after)  # user unit: ~/.config/...
    ]
    if spec.api_key_file and api_key is not None:
        files.append({"path": spec.api_key_file, "content": api_key + "\n", "mode": "0600",
                      "secret": True})  # fmt: skip
    entry: dict[str, Any] = {
        "name": spec.name,
        "backend": spec.backend,
        "files": files,
        "runtime": _runtime_var(target),
        "url": f"{spec.url}/health",
        "check": {
            "url": f"{spec.url}/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4},
            "contains": "choices",
        },
    }
    if target.model.fetched:
        entry["model"] = _model_var(target.model, target.model_dest)
    if options is not None and options.quality_reference and spec.engine == "llama.cpp":
        entry["gate"] = _gate(spec, options, files)
    if spec.backend == "process":
        entry["command"] = ["/bin/sh", f"{spec.workdir}/{spec.name}.sh"]
    if spec.api_key_file:
        entry["api_key_file"] = spec.api_key_file
    return entry


def deploy_plan(
    probes: Mapping[str, Any], hosts: list[str], plan_file: Path | None = None
) -> PlanFile:
    """The reviewed ``plan_file``, or a plan made now (balanced) from the stored facts."""
    from moefleet import planning  # noqa: PLC0415 - planning pulls in the catalog
    from moefleet.catalog.load import load_catalog  # noqa: PLC0415
    from moefleet.plan.demand import Demand  # noqa: PLC0415
    from moefleet.plan.report import plan_data  # noqa: PLC0415

    if plan_file is not None:
        return read_plan(plan_file)
    catalog = load_catalog()
    made = planning.make_plan(
        planning.nodes_from_probes(hosts, dict(probes), catalog), catalog, Demand()
    )
    return parse_plan(plan_data(made), "the plan made now")


def deploy_playbook_path(name: str = "deploy.toml") -> Path:
    """A packaged playbook: ``deploy.toml``, ``ray.toml`` or ``front-door.toml``."""
    return Path(str(resources.files("moefleet") / "playbooks" / name))


@dataclass(frozen=True)
class _Runs:
    """Runs packaged playbooks with the user's options, limited to the hosts they need."""

    inventory: Inventory
    options: DeployOptions
    state: StateStore
    connect_options: ConnectOptions | None
    on_event: Callable[[Event], None] | None

    def __call__(self, name: str, host_vars: dict[str, dict[str, Any]]) -> RunReport:
        options = self.options
        limit = ",".join(sorted(host_vars))
        if options.limit:
            limit = f"{limit},&{options.limit}"
        run_options = RunOptions(check=options.check, diff=options.diff, limit=limit,
                                 forks=options.forks, timeout=options.timeout)  # fmt: skip
        return run_playbook(
            load_playbook(deploy_playbook_path(name)),
            self.inventory,
            options=run_options,
            connect_options=self.connect_options,
            host_vars=host_vars,
            state=self.state,
            on_event=self.on_event,
        )


def _clusters(
    targets: list[DeployTarget],
    inventory: Inventory,
    facts: Mapping[str, HostFacts | None],
    problems: dict[str, str],
) -> tuple[list[DeployTarget], list[RayCluster]]:
    """Targets with multi-node servers wired to their Ray cluster, and the clusters."""
    kept: list[DeployTarget] = []
    clusters: list[RayCluster] = []
    for target in targets:
        if len(target.deployment.hosts) < 2:
            kept.append(target)
            continue
        try:
            cluster = ray_cluster(target, inventory.hosts, facts)
        except (DeployError, ValueError) as exc:
            problems[target.host] = str(exc)
            continue
        clusters.append(cluster)
        kept.append(cluster.server)
    return kept, clusters


def _without_failed_clusters(
    report: RunReport, clusters: list[RayCluster], targets: list[DeployTarget],
    problems: dict[str, str],
) -> list[DeployTarget]:  # fmt: skip
    """Drop the servers whose Ray cluster did not come up (they would only fail)."""
    bad = {h for h, s in report.stats.items() if s.failed or s.unreachable}
    dropped = set()
    for cluster in clusters:
        nodes = [cluster.head.host, *(w.host for w in cluster.workers)]
        down = [h for h in nodes if h in bad]
        if down:
            dropped.add((cluster.server.host, cluster.server.service.name))
            problems[cluster.server.host] = f"Ray cluster not up on {', '.join(down)}"
    return [t for t in targets if (t.host, t.service.name) not in dropped]


def run_deploy(
    deployments: list[PlannedDeployment],
    inventory: Inventory,
    facts: Mapping[str, HostFacts | None],
    options: DeployOptions,
    state: StateStore,
    api_key: str | None = None,
    connect_options: ConnectOptions | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> DeployOutcome:
    """Deploy ``deployments`` (check mode with ``options.check``): Ray clusters, servers, then
    front doors over the servers that passed their health gate."""
    targets, problems = deploy_targets(deployments, inventory.hosts, facts, api_key)
    targets, clusters = _clusters(targets, inventory, facts, problems)
    doors, door_problems = front_doors(targets, inventory.hosts, facts, api_key)
    problems.update({f"front door {model}": text for model, text in door_problems.items()})
    run = _Runs(inventory, options, state, connect_options, on_event)
    reports: list[RunReport] = []
    if clusters:
        reports.append(run("ray.toml", ray_host_vars(clusters)))
        targets = _without_failed_clusters(reports[-1], clusters, targets, problems)
    after = {(c.server.host, c.server.service.name): (c.unit,) for c in clusters}
    by_host: dict[str, list[dict[str, Any]]] = {}
    for target in targets:
        units = after.get((target.host, target.service.name), ())
        by_host.setdefault(target.host, []).append(service_var(target, api_key, options, units))
    served: RunReport | None = None
    if by_host:
        host_vars = {
            host: {"services": services, "health_timeout": options.health_timeout}
            for host, services in by_host.items()
        }
        served = run("deploy.toml", host_vars)
        reports.append(served)
    results, door_report = _front_doors(doors, served, options, api_key, problems, run)
    if door_report is not None:
        reports.append(door_report)
    if not options.check and served is not None:
        _record(served, targets, state)
    if not options.check and door_report is not None:
        record_front_doors(results, door_report, state)
    report = merge_reports(reports)
    return DeployOutcome(report, tuple(targets), problems, tuple(results), tuple(clusters))


def _front_doors(
    doors: list[FrontDoor],
    served: RunReport | None,
    options: DeployOptions,
    api_key: str | None,
    problems: dict[str, str],
    run: _Runs,
) -> tuple[list[DoorResult], RunReport | None]:
    """Run the front-door playbook over the replicas that passed their gate. A ``--limit``
    run leaves front doors as they are: it would drop the replicas it does not cover."""
    if not doors or served is None or options.limit:
        return [], None
    healthy = healthy_hosts(served, options.check)
    host_vars, results = door_host_vars(doors, healthy, api_key, problems)
    if not host_vars:
        return results, None
    return results, run("front-door.toml", host_vars)


def _record(report: RunReport, targets: list[DeployTarget], state: StateStore) -> None:
    """Remember what now serves on every host that passed the health gate (for bench, tui)."""
    for target in targets:
        stats = report.stats.get(target.host)
        if stats is None or stats.failed or stats.unreachable or stats.rescued:
            continue
        spec, planned = target.service, target.deployment
        state.save_deployment(
            target.host,
            spec.name,
            {
                "run_id": report.run_id,
                "model": planned.model,
                "format": planned.format,
                "engine": planned.engine,
                "mode": planned.mode,
                "gpus": list(planned.gpus),
                "flags": list(planned.flags),
                "url": spec.url,
                "api_key_file": spec.api_key_file,
                "predicted": planned.predicted,
            },
        )


def summary(outcome: DeployOutcome) -> dict[str, Any]:
    """JSON-ready per-host result, front doors and Ray clusters (never file contents)."""
    hosts: dict[str, Any] = {}
    for target in outcome.targets:
        entry = hosts.setdefault(target.host, {})
        entry.setdefault("services", []).append(
            {
                "name": target.service.name,
                "model": target.deployment.model,
                "format": target.deployment.format,
                "url": target.service.url,
            }
        )
    report = outcome.report
    if report is not None:
        for host, stats in report.stats.items():
            hosts.setdefault(host, {})["stats"] = json.loads(json.dumps(stats.__dict__))
    doors: dict[str, Any] = {}
    for result in outcome.front_doors:
        door = result.door
        doors[door.model] = {"host": door.host, "name": door.name, "url": door.url,
                             "backend": door.backend, "replicas": list(result.urls)}  # fmt: skip
    for key, problem in outcome.problems.items():
        if key.startswith("front door "):
            doors.setdefault(key.removeprefix("front door "), {})["problem"] = problem
        else:
            hosts.setdefault(key, {})["problem"] = problem
    clusters = [
        {
            "head": c.head.host,
            "workers": [w.host for w in c.workers],
            "address": c.address,
            "server": c.server.service.name,
            "order": [f"{host} {unit}" for host, unit in rollout_order(c)],
        }
        for c in outcome.clusters
    ]
    ok = bool(report and report.ok) and not outcome.problems
    return {"hosts": hosts, "front_doors": doors, "ray_clusters": clusters, "ok": ok}
