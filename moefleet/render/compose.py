"""vLLM as a docker compose service on the official image."""

from __future__ import annotations

from pathlib import PurePosixPath

from moefleet.deploy.service import ServiceSpec
from moefleet.render.command import SH, VLLM_KEY_SCRIPT, check_exposure, server_command
from moefleet.render.environment import RenderedFile, render_template
from moefleet.render.filters import RenderError

# Pinned to the release the flag list in moefleet/engine_flags/ was derived from.
VLLM_IMAGE = "vllm/vllm-openai:v0.33.0"
SECRET_TARGET = "/run/secrets/api_key"  # noqa: S105 - a path; where compose mounts a file secret (compose-spec)


def render_compose(spec: ServiceSpec, image: str = VLLM_IMAGE) -> RenderedFile:
    """``{workdir}/{name}.compose.yaml``: GPUs reserved, model mounted read-only at the same
    path, the API key as a compose secret loaded into ``VLLM_API_KEY`` (never in argv)."""
    if spec.engine != "vllm":
        raise RenderError(f"{spec.name}: the compose service is for vLLM, not {spec.engine}")
    check_exposure(spec)
    command = server_command(spec)
    # In the container vLLM listens on all interfaces; the host-side publish binds spec.bind_host.
    args = list(command.argv[1:])
    host_at = args.index("--host") + 1 if "--host" in args else None
    if host_at is not None:
        args[host_at] = "0.0.0.0"  # noqa: S104 - inside the container; published on bind_host
    if command.key_file:
        entrypoint = [SH, "-c", VLLM_KEY_SCRIPT, spec.name, SECRET_TARGET, "vllm"]
    else:
        entrypoint = ["vllm"]
    bind = f"[{spec.bind_host}]" if ":" in spec.bind_host else spec.bind_host
    content = render_template(
        "vllm-compose.yaml.j2",
        spec=spec,
        image=image,
        entrypoint=entrypoint,
        command=args,
        publish=f"{bind}:{spec.port}:{spec.port}",
        model_dir=str(PurePosixPath(spec.model_path)),
        gpus=[str(g) for g in spec.gpus],
    )
    return RenderedFile(path=f"{spec.workdir}/{spec.name}.compose.yaml", content=content)
