"""``render_service``: the files one ServiceSpec needs on its host."""

from __future__ import annotations

from moefleet.deploy.service import ServiceSpec
from moefleet.render.command import cuda_env, server_command
from moefleet.render.environment import RenderedFile
from moefleet.render.units import Program, program_files


def service_program(spec: ServiceSpec, after: tuple[str, ...] = ()) -> Program:
    """The supervised program for ``spec`` (``after``: units it needs, e.g. a Ray head)."""
    engine = "llama-server" if spec.engine == "llama.cpp" else "vLLM"
    return Program(
        name=spec.name,
        description=f"moefleet {engine} {spec.name} on {spec.bind_host}:{spec.port}",
        command=server_command(spec),
        workdir=spec.workdir,
        env={**spec.env, **cuda_env(spec.gpus)},
        user=spec.user,
        after=after,
        # vLLM compiles graphs and may download nothing, llama.cpp maps the file: both slow
        start_timeout_s=1800 if spec.engine == "vllm" else 600,
    )


def render_service(
    spec: ServiceSpec, home: str | None = None, after: tuple[str, ...] = ()
) -> list[RenderedFile]:
    """Unit (``systemd``: /etc/systemd/system, ``systemd-user``: ``home``/.config/systemd/user)
    or launcher script (``process``), then the env file ``{workdir}/{name}.env``.

    Raises RenderError for an exposed bind without ``api_key_file``, a key on the command
    line, a control character, or a user unit without ``home``.
    """
    return program_files(service_program(spec, after), spec.backend, home)
