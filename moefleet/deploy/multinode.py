"""Multi-node vLLM (pipeline parallel over Ray): a Ray head on the deployment's first host,
a worker on each other host, and the vLLM server on the head, in that order.

``moefleet deploy`` runs ``playbooks/ray.toml`` first (play 1: heads, up when their GCS port
answers; play 2: workers, up when their node manager port answers), then the deploy playbook
brings up the vLLM server on the head; its unit lists the head's unit in ``After=``, and it
finds the cluster through ``RAY_ADDRESS``. Host variables (any level), with their defaults:

- ``ray_path``: the ``ray`` executable (default: beside ``vllm_runtime.path``, or beside the
  vllm that facts found, as both come from the same venv);
- ``ray_port`` (``6379``, read on the head) and ``ray_node_manager_port`` (``6380``);
- ``ray_node_ip``: the address Ray advertises for the node (default: the inventory address
  when it is an IP address); the head's is the address workers join.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any, Literal

from moefleet.deploy.targets import DEFAULT_DIR, DeployError, DeployTarget, host_backend
from moefleet.facts.model import HostFacts
from moefleet.inventory import Host
from moefleet.render import RenderedFile, render_ray
from moefleet.render.ray import RAY_PORT
from moefleet.render.units import HOST_HOME

NODE_MANAGER_PORT = 6380


@dataclass(frozen=True)
class RayNode:
    """One Ray process (head or worker) of a cluster, on one host."""

    host: str
    role: Literal["head", "worker"]
    name: str
    backend: str
    files: tuple[RenderedFile, ...]
    wait_host: str
    """the node is up when this address ..."""
    wait_port: int
    """... accepts connections on this port (head: GCS; worker: its node manager)"""


@dataclass(frozen=True)
class RayCluster:
    """The Ray cluster of one multi-node deployment and the vLLM server it carries."""

    server: DeployTarget
    head: RayNode
    workers: tuple[RayNode, ...]
    address: str

    @property
    def unit(self) -> str:
        """The head's unit, for the server's ``After=``."""
        return f"{self.head.name}.service"


def _node_ip(host: Host) -> str | None:
    chosen = host.vars.get("ray_node_ip")
    if chosen:
        return str(chosen)
    try:
        return str(ipaddress.ip_address(host.address))
    except ValueError:
        return None


def ray_binary(host: Host, facts: HostFacts | None) -> str:
    """``ray_path``, else the ``ray`` beside the host's vllm."""
    if host.vars.get("ray_path"):
        return str(host.vars["ray_path"])
    runtime: Mapping[str, Any] = host.vars.get("vllm_runtime", {})
    vllm = runtime.get("path") or (
        facts.runtimes.vllm.path if facts is not None and facts.runtimes.vllm else None
    )
    if not vllm:
        raise DeployError(
            f"{host.name}: no ray executable for a multi-node deployment",
            'set vars.ray_path = "/opt/vllm/bin/ray" (or vllm_runtime.path beside it)',
        )
    return str(PurePosixPath(str(vllm)).parent / "ray")


def _node(
    role: Literal["head", "worker"],
    name: str,
    host: Host,
    facts: HostFacts | None,
    head_address: str,
    port: int,
    gpus: tuple[int, ...],
) -> RayNode:
    root = str(host.vars.get("moefleet_dir", DEFAULT_DIR))
    backend = host_backend(host, facts)
    node_ip = _node_ip(host)
    manager = int(host.vars.get("ray_node_manager_port", NODE_MANAGER_PORT))
    files = render_ray(
        name, role, ray=ray_binary(host, facts), head_address=head_address,
        workdir=f"{root}/run", port=port, node_ip=node_ip, gpus=gpus, backend=backend,
        node_manager_port=manager, home=HOST_HOME,
    )  # fmt: skip
    if role == "head":
        return RayNode(host.name, role, name, backend, tuple(files), head_address, port)
    return RayNode(host.name, role, name, backend, tuple(files), node_ip or "127.0.0.1", manager)


def ray_cluster(
    server: DeployTarget, hosts: Mapping[str, Host], facts: Mapping[str, HostFacts | None]
) -> RayCluster:
    """The cluster for ``server`` (a vLLM target whose deployment names several hosts)."""
    deployment = server.deployment
    if deployment.engine != "vllm":
        raise DeployError(f"{server.host}: a multi-node deployment must use vLLM")
    missing = [h for h in deployment.hosts if h not in hosts]
    if missing:
        raise DeployError(f"{', '.join(missing)}: in the plan but not in the inventory")
    head_host = hosts[deployment.hosts[0]]
    port = int(head_host.vars.get("ray_port", RAY_PORT))
    address = _node_ip(head_host) or head_host.address
    base = server.service.name
    head = _node(
        "head",
        f"{base}-ray-head",
        head_host,
        facts.get(head_host.name),
        address,
        port,
        deployment.gpus,
    )
    workers = tuple(
        _node(
            "worker",
            f"{base}-ray-worker",
            hosts[name],
            facts.get(name),
            address,
            port,
            deployment.gpus,
        )
        for name in deployment.hosts[1:]
    )
    bracketed = f"[{address}]" if ":" in address else address
    # ray.init() reads RAY_ADDRESS when no address is given (Ray docs, ray.init "address")
    env = {**server.service.env, "RAY_ADDRESS": f"{bracketed}:{port}"}
    server = replace(server, service=server.service.model_copy(update={"env": env}))
    return RayCluster(server, head, workers, f"{bracketed}:{port}")


def rollout_order(cluster: RayCluster) -> list[tuple[str, str]]:
    """(host, unit) in the order they come up: head, then workers, then the vLLM server."""
    return [
        (cluster.head.host, cluster.head.name),
        *((w.host, w.name) for w in cluster.workers),
        (cluster.server.host, cluster.server.service.name),
    ]


def ray_host_vars(clusters: list[RayCluster]) -> dict[str, dict[str, Any]]:
    """``ray_nodes`` per host for ``playbooks/ray.toml``."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    for cluster in clusters:
        for node in (cluster.head, *cluster.workers):
            by_host.setdefault(node.host, []).append(
                {
                    "name": node.name,
                    "role": node.role,
                    "backend": node.backend,
                    "files": [
                        {
                            "path": f.path,
                            "content": f.content,
                            "mode": f"{f.mode:04o}",
                            "secret": f.secret,
                            "node": node.name,
                        }
                        for f in node.files
                    ],
                    "command": ["/bin/sh", next(f.path for f in node.files)]
                    if node.backend == "process"
                    else None,
                    "wait_host": node.wait_host,
                    "wait_port": node.wait_port,
                }
            )
    return {host: {"ray_nodes": nodes} for host, nodes in by_host.items()}
