"""The server's command line (argv) from a ServiceSpec, with the API-key rules enforced."""

from __future__ import annotations

from dataclasses import dataclass

from moefleet.deploy.service import ServiceSpec
from moefleet.render.filters import RenderError

SH = "/bin/sh"
# vLLM reads its key from ``--api-key`` (visible in ps) or from ``VLLM_API_KEY`` (vLLM
# vllm/entrypoints/serve/middleware/register.py: ``args.api_key or [envs.VLLM_API_KEY]``).
# This fixed script loads the key file into the environment and execs the server: the key
# file path and the server argv are positional arguments, never spliced into shell code.
VLLM_KEY_SCRIPT = 'VLLM_API_KEY=$(cat -- "$1") || exit 1; export VLLM_API_KEY; shift; exec "$@"'


@dataclass(frozen=True)
class Command:
    """What a supervisor runs: ``argv``, plus a key file the launcher loads into ``key_env``."""

    argv: tuple[str, ...]
    key_file: str | None = None
    key_env: str | None = None

    def wrapped(self, name: str) -> tuple[str, ...]:
        """argv that loads the key first (for ExecStart= and compose, where there is no script)."""
        if self.key_file is None:
            return self.argv
        return (SH, "-c", VLLM_KEY_SCRIPT, name, self.key_file, *self.argv)


def _has(args: tuple[str, ...], *flags: str) -> bool:
    return any(a in flags or a.split("=", 1)[0] in flags for a in args)


def check_exposure(spec: ServiceSpec) -> None:
    """An inference server bound beyond loopback must require an API key."""
    if spec.exposed and not spec.api_key_file:
        raise RenderError(
            f"{spec.name}: listens on {spec.bind_host} without an API key",
            "set api_key_file, or bind to 127.0.0.1",
        )


def server_command(spec: ServiceSpec) -> Command:
    """The engine's argv: model, flags, host/port and the key file, never the key itself."""
    check_exposure(spec)
    args = spec.args
    if _has(args, "--api-key"):
        raise RenderError(
            f"{spec.name}: --api-key on the command line shows the key in ps",
            "use api_key_file",
        )
    listen: list[str] = []
    if not _has(args, "--host"):
        listen += ["--host", spec.bind_host]
    if not _has(args, "--port"):
        listen += ["--port", str(spec.port)]
    if spec.engine == "llama.cpp":
        model = [] if _has(args, "-m", "--model") else ["-m", spec.model_path]
        key: list[str] = []
        if spec.api_key_file and not _has(args, "--api-key-file"):
            key = ["--api-key-file", spec.api_key_file]
        return Command(argv=(spec.binary, *model, *args, *listen, *key))
    if _has(args, "--api-key-file"):
        raise RenderError(f"{spec.name}: vLLM has no --api-key-file", "use api_key_file")
    argv = (spec.binary, "serve", spec.model_path, *args, *listen)
    if spec.api_key_file:
        return Command(argv=argv, key_file=spec.api_key_file, key_env="VLLM_API_KEY")
    return Command(argv=argv)


def cuda_env(gpus: tuple[int, ...]) -> dict[str, str]:
    """``CUDA_VISIBLE_DEVICES`` for the GPUs given (none: the variable is left alone)."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus)} if gpus else {}
