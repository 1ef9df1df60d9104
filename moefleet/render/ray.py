"""Ray head and worker units for multi-node vLLM (pipeline parallel over nodes)."""

from __future__ import annotations

from typing import Literal

from moefleet.deploy.service import Backend, reject_control
from moefleet.render.command import Command, cuda_env
from moefleet.render.environment import RenderedFile
from moefleet.render.filters import RenderError
from moefleet.render.units import Program, program_files

RAY_PORT = 6379


def ray_command(
    ray: str,
    role: Literal["head", "worker"],
    head_address: str,
    port: int,
    node_ip: str | None,
    node_manager_port: int | None = None,
) -> Command:
    """``ray start --head --port P --block`` or ``ray start --address HEAD:P --block``.

    ``--block`` keeps ``ray start`` in the foreground so systemd supervises the node
    (Ray docs, "ray start"); vLLM's multi-node guide starts the cluster the same way.
    ``--node-manager-port`` fixes the node manager's port (random by default; Ray docs,
    docs.ray.io/en/latest/cluster/cli.html), so a deploy can wait for the node to listen.
    """
    reject_control(head_address, "Ray head address")
    if role == "head":
        argv = [ray, "start", "--head", "--port", str(port)]
    else:
        host = f"[{head_address}]" if ":" in head_address else head_address
        argv = [ray, "start", "--address", f"{host}:{port}"]
    if node_ip:
        argv += ["--node-ip-address", reject_control(node_ip, "node IP")]
    if node_manager_port is not None:
        if not 1 <= node_manager_port <= 65535:
            raise RenderError(f"Ray node manager port {node_manager_port} out of range")
        argv += ["--node-manager-port", str(node_manager_port)]
    return Command(argv=(*argv, "--block"))


def render_ray(
    name: str,
    role: Literal["head", "worker"],
    *,
    ray: str,
    head_address: str,
    workdir: str,
    port: int = RAY_PORT,
    node_ip: str | None = None,
    gpus: tuple[int, ...] = (),
    user: str | None = None,
    backend: Backend = "systemd",
    home: str | None = None,
    node_manager_port: int | None = None,
) -> list[RenderedFile]:
    """Unit (or launcher) and env file for one Ray node; the vLLM unit on the head lists
    ``name`` in ``render_service(..., after=(name + ".service",))``."""
    if not 1 <= port <= 65535:
        raise RenderError(f"Ray port {port} out of range")
    program = Program(
        name=name,
        description=f"moefleet Ray {role} ({head_address}:{port})",
        command=ray_command(ray, role, head_address, port, node_ip, node_manager_port),
        workdir=workdir,
        env=cuda_env(gpus),
        user=user,
        start_timeout_s=120,
    )
    return program_files(program, backend, home)
