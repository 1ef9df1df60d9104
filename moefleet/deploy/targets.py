"""From a plan to what each host must run: service specs, model and runtime sources.

Host variables (inventory ``vars``, any level) that steer it, with their defaults:

- ``moefleet_dir`` (``/var/lib/moefleet``): env files, launchers, pidfiles, logs, runtimes;
- ``models_dir`` (``/var/lib/moefleet/models``): where model files are fetched to;
- ``service_backend`` (from facts: ``systemd`` when PID 1 is systemd and the login is root,
  ``systemd-user`` when it is systemd and not root, else ``process``);
- ``serve_bind`` (``127.0.0.1``) and ``serve_port`` (``8080``, +1 per replica on the host);
- ``model_sources``: ``{"MODEL:FORMAT" | "MODEL" = {url = "...", sha256 = "...", size = N}}``,
  ``{hf_repo = "org/name-GGUF", hf_file = "x-Q4_K_M.gguf", size = N, revision = "main"}``
  (downloaded on the host from Hugging Face) or ``{path = "/on/the/controller.gguf"}`` to push
  the file over SFTP; vLLM also takes ``{hf_repo = "org/name"}`` alone (the server downloads
  it) or ``{host_path = "/models/dir"}``;
- ``llama_runtime``: ``{src = "/controller/dir/with/llama-server"}`` to upload a prebuilt
  llama.cpp, ``{path = "/usr/local/bin/llama-server"}`` to use one already installed, or
  ``{build = {git = "https://github.com/ggml-org/llama.cpp", ref = "b6000"}}`` /
  ``{build = {tarball = "https://..." | "/controller/file.tar.gz"}}`` to build it on the host
  into ``moefleet_dir/runtime/llama.cpp`` (more ``build`` keys: ``sha256``, ``subdir``,
  ``cmake_args``, ``env``, ``jobs``, ``cuda_archs``; see ``install_build.BuildArgs``), with
  ``cuda = "auto"`` (default: CUDA for the compute capabilities the probe found, a CPU build
  when it found no NVIDIA GPU), ``true`` (CUDA, the probe must have found the GPUs) or
  ``false``; unset, the probed llama-server is used;
- ``vllm_runtime``: ``{path = ".../bin/vllm"}``, or ``{venv = "/opt/vllm", package =
  "vllm==0.11.0", pip_args = ["--index-url", "..."]}`` to pip-install vLLM into that venv
  (the ``==`` pin is the version checked; optional ``python``, default ``python3``); unset,
  the probed vLLM is used.

An API key is mandatory when ``serve_bind`` is not loopback; the key itself lives only in
a 0600 file on the controller (``api_key_file``) and on the host.

``front_door`` (a model's nginx front door over its replicas) is read by
``moefleet.deploy.front_door``; ``ray_path``, ``ray_port``, ``ray_node_manager_port`` and
``ray_node_ip`` (multi-node vLLM over Ray) by ``moefleet.deploy.multinode``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ValidationError

from moefleet.deploy.planfile import PlannedDeployment
from moefleet.deploy.service import Backend, ServiceSpec
from moefleet.errors import MoefleetError
from moefleet.facts.model import HostFacts
from moefleet.inventory import Host
from moefleet.playbook.tasks.install_build import BuildArgs, cuda_architectures
from moefleet.playbook.tasks.install_venv import VenvArgs

DEFAULT_DIR = "/var/lib/moefleet"
DEFAULT_PORT = 8080


class DeployError(MoefleetError):
    """A plan that cannot be turned into services on a host (missing source, bad var...)."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model file comes from and how to verify it."""

    url: str | None = None
    path: str | None = None
    sha256: str | None = None
    size: int | None = None
    hf_repo: str | None = None
    """a Hugging Face repo: with ``hf_file`` a file fetched on the host; alone (vLLM) a repo
    the server loads itself"""
    hf_file: str | None = None
    revision: str = "main"
    host_path: str | None = None
    """vLLM: a model directory already on the host"""

    @property
    def fetched(self) -> bool:
        return bool(self.url or self.path or (self.hf_repo and self.hf_file))


@dataclass(frozen=True)
class RuntimeSource:
    """A runtime already on the host (``binary`` alone), or one to install into ``dest``: a
    prebuilt tree to upload (``src`` on the controller), a build from source (``build``:
    ``install_runtime``'s build table, CUDA architectures resolved) or a venv (``venv``)."""

    binary: str
    src: str | None = None
    dest: str | None = None
    build: dict[str, Any] | None = field(default=None, hash=False)
    venv: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class DeployTarget:
    """One service on one host with everything needed to bring it up."""

    host: str
    service: ServiceSpec
    model: ModelSource
    model_dest: str
    runtime: RuntimeSource
    deployment: PlannedDeployment


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower()


def service_slug(text: str) -> str:
    """``text`` as a piece of a unit / file name (a model id: ``qwen3-30b-a3b``)."""
    return _slug(text)


def host_backend(host: Host, facts: HostFacts | None) -> Backend:
    """How services are supervised on ``host`` (``service_backend``, else from facts)."""
    return _backend(host, facts)


def _backend(host: Host, facts: HostFacts | None) -> Backend:
    chosen = host.vars.get("service_backend")
    if chosen is not None:
        if chosen not in ("systemd", "systemd-user", "process"):
            raise DeployError(
                f"{host.name}: service_backend = {chosen!r}",
                "expected one of systemd, systemd-user, process",
            )
        return chosen  # type: ignore[no-any-return]
    if facts is not None and facts.runtimes.systemd_is_init:
        return "systemd" if host.user in (None, "root") else "systemd-user"
    return "process"


def _model_source(host: Host, deployment: PlannedDeployment) -> ModelSource:
    sources: Mapping[str, Any] = host.vars.get("model_sources", {})
    entry = sources.get(f"{deployment.model}:{deployment.format}") or sources.get(deployment.model)
    where = f'vars.model_sources."{deployment.model}:{deployment.format}"'
    keys = (
        ("url", "path", "hf_repo", "host_path") if deployment.engine == "vllm" else ("url", "path")
    )
    llama_hf = deployment.engine != "vllm" and isinstance(entry, Mapping) and entry.get("hf_file")
    if not isinstance(entry, Mapping) or not (llama_hf or any(entry.get(k) for k in keys)):
        raise DeployError(
            f"{host.name}: no source for {deployment.model} {deployment.format}",
            f'set {where} = {{ url = "https://...", sha256 = "...", size = N }} (or hf_repo + '
            "hf_file + size for a Hugging Face GGUF, or path = a file on the controller)",
        )
    if entry.get("hf_file") and not entry.get("hf_repo"):
        raise DeployError(f"{host.name}: {where} has hf_file without hf_repo", "add hf_repo")
    source = ModelSource(
        url=entry.get("url"),
        path=entry.get("path"),
        sha256=entry.get("sha256"),
        size=int(entry["size"]) if entry.get("size") is not None else None,
        hf_repo=entry.get("hf_repo"),
        hf_file=entry.get("hf_file"),
        revision=str(entry.get("revision", "main")),
        host_path=entry.get("host_path"),
    )
    if source.fetched and not source.path and (source.size is None or not source.sha256):
        raise DeployError(
            f"{host.name}: {where} is downloaded on the host but has no "
            + ("size" if source.size is None else "sha256"),
            'give size = N (bytes) and sha256 = "...": the disk is checked before the '
            "download starts and the file verified after it (Hugging Face shows both on the "
            "file's page)",
        )
    if source.sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", source.sha256):
        raise DeployError(f"{host.name}: {where}.sha256 is not 64 hex digits", "a sha256 digest")
    return source


def _runtime(host: Host, facts: HostFacts | None, root: str) -> RuntimeSource:
    runtime: Mapping[str, Any] = host.vars.get("llama_runtime", {})
    if runtime.get("path"):
        return RuntimeSource(binary=str(runtime["path"]))
    dest = f"{root}/runtime/llama.cpp"
    if runtime.get("src") and runtime.get("build"):
        raise DeployError(f"{host.name}: llama_runtime has both src and build", "keep one")
    if runtime.get("src"):
        return RuntimeSource(binary=f"{dest}/llama-server", src=str(runtime["src"]), dest=dest)
    if runtime.get("build"):
        build = _build_table(host, facts, runtime)
        return RuntimeSource(binary=f"{dest}/llama-server", dest=dest, build=build)
    found = facts.runtimes.llama_server if facts is not None else None
    if found is not None and found.path:
        return RuntimeSource(binary=found.path)
    raise DeployError(
        f"{host.name}: no llama-server on the host and no runtime to install",
        'set vars.llama_runtime = { src = "/dir/with/llama-server" }, { path = "..." } or '
        '{ build = { git = "https://github.com/ggml-org/llama.cpp", ref = "b6000" } }',
    )


def _build_table(host: Host, facts: HostFacts | None, runtime: Mapping[str, Any]) -> dict[str, Any]:
    """``llama_runtime.build`` with ``cuda_archs`` from ``cuda`` and the probe, validated."""
    table = runtime["build"]
    cuda = runtime.get("cuda", "auto")
    if not isinstance(table, Mapping) or cuda not in (True, False, "auto"):
        raise DeployError(
            f"{host.name}: llama_runtime = {dict(runtime)!r}",
            'expected build = { git = "...", ref = "..." } or { tarball = "..." } and '
            'cuda = true, false or "auto"',
        )
    entry = dict(table)
    if cuda is False:
        entry["cuda_archs"] = None
    elif "cuda_archs" not in entry:
        if facts is None:
            raise DeployError(
                f"{host.name}: llama_runtime.cuda = {cuda!r} needs the host's probed GPUs",
                "probe the host first (moefleet probe), or set cuda = false or build.cuda_archs",
            )
        entry["cuda_archs"] = cuda_architectures(facts.gpus)
        if cuda is True and entry["cuda_archs"] is None:
            raise DeployError(
                f"{host.name}: llama_runtime.cuda = true, but the probe found no NVIDIA GPU "
                "with a compute capability",
                'set build.cuda_archs = "89" (say), or cuda = "auto" for a CPU build',
            )
    _check(BuildArgs, entry, f"{host.name}: llama_runtime.build")
    return entry


def _check(args: type[BaseModel], table: Mapping[str, Any], where: str) -> None:
    """DeployError (naming ``where``) unless ``table`` is valid ``args`` for the task."""
    try:
        args.model_validate(table)
    except ValidationError as exc:
        problem = "; ".join(error["msg"] for error in exc.errors())
        raise DeployError(f"{where}: {problem}", str(dict(table))) from exc


def _vllm_runtime(host: Host, facts: HostFacts | None) -> RuntimeSource:
    runtime: Mapping[str, Any] = host.vars.get("vllm_runtime", {})
    if runtime.get("path"):
        return RuntimeSource(binary=str(runtime["path"]))
    if runtime.get("venv"):
        venv = str(runtime["venv"]).rstrip("/")
        table = {k: runtime[k] for k in ("package", "pip_args", "python") if k in runtime}
        _check(VenvArgs, table, f"{host.name}: vllm_runtime")
        return RuntimeSource(binary=f"{venv}/bin/vllm", dest=venv, venv=table)
    found = facts.runtimes.vllm if facts is not None else None
    if found is not None and found.path:
        return RuntimeSource(binary=found.path)
    raise DeployError(
        f"{host.name}: no vllm on the host",
        'set vars.vllm_runtime = { venv = "/opt/vllm", package = "vllm==0.33.0" } to install '
        'it, or { path = ".../bin/vllm" }',
    )


def _model_file(models_dir: str, deployment: PlannedDeployment, source: ModelSource) -> str:
    origin = source.url or source.path or source.hf_file or ""
    name = PurePosixPath(origin.split("?", 1)[0]).name or f"{deployment.format}.gguf"
    return f"{models_dir}/{_slug(deployment.model)}/{name}"


def service_name(deployment: PlannedDeployment, replica: int) -> str:
    return f"moefleet-{_slug(deployment.model)}-{replica}"


def llama_args(
    deployment: PlannedDeployment, model_path: str, bind: str, port: int, key_file: str | None
) -> tuple[str, ...]:
    """llama-server's command line: the planner's flags plus model, address and metrics."""
    args = ["-m", model_path, "--alias", deployment.model, *deployment.flags]
    args += ["--host", bind, "--port", str(port), "--metrics"]
    if key_file:
        args += ["--api-key-file", key_file]
    return tuple(args)


def deploy_targets(
    deployments: list[PlannedDeployment],
    hosts: Mapping[str, Host],
    facts: Mapping[str, HostFacts | None],
    api_key: str | None,
) -> tuple[list[DeployTarget], dict[str, str]]:
    """Targets for every deployment on a known host, and per-host problems (a multi-node
    deployment is one target, its vLLM server on the first host)."""
    targets: list[DeployTarget] = []
    problems: dict[str, str] = {}
    replicas: dict[str, int] = {}
    for deployment in deployments:
        host = hosts.get(deployment.host)
        if host is None:
            problems[deployment.host] = "in the plan but not in the inventory"
            continue
        # a multi-node deployment's server runs on its first host (the Ray head); the Ray
        # nodes themselves come from moefleet.deploy.multinode
        try:
            index = replicas.get(host.name, 0)
            targets.append(_target(deployment, host, facts.get(host.name), api_key, index))
            replicas[host.name] = index + 1
        except (DeployError, ValueError) as exc:
            problems[host.name] = str(exc)
    return targets, problems


def _target(
    deployment: PlannedDeployment,
    host: Host,
    facts: HostFacts | None,
    api_key: str | None,
    index: int,
) -> DeployTarget:
    root = str(host.vars.get("moefleet_dir", DEFAULT_DIR))
    models_dir = str(host.vars.get("models_dir", f"{DEFAULT_DIR}/models"))
    bind = str(host.vars.get("serve_bind", "127.0.0.1"))
    port = int(host.vars.get("serve_port", DEFAULT_PORT)) + index
    name = service_name(deployment, index)
    key_file = f"{root}/secrets/{name}.key" if api_key else None
    source = _model_source(host, deployment)
    if deployment.engine == "vllm":
        model_path = (
            source.hf_repo or source.host_path or _model_file(models_dir, deployment, source)
        )
        runtime = _vllm_runtime(host, facts)
        args: tuple[str, ...] = (*deployment.flags, "--served-model-name", deployment.model)
        env = {}
    else:
        model_path = _model_file(models_dir, deployment, source)
        runtime = _runtime(host, facts, root)
        args = llama_args(deployment, model_path, bind, port, key_file)
        env = {"LD_LIBRARY_PATH": str(PurePosixPath(runtime.binary).parent)}
    service = ServiceSpec(
        name=name,
        engine=deployment.engine,
        backend=_backend(host, facts),
        binary=runtime.binary,
        model_path=model_path,
        args=args,
        env=env,
        bind_host=bind,
        port=port,
        api_key_file=key_file,
        workdir=f"{root}/run",
        gpus=deployment.gpus,
    )
    if service.exposed and not key_file:
        raise DeployError(
            f"{host.name}: serve_bind = {bind} exposes the server without an API key",
            "give an api_key_file (or bind to 127.0.0.1)",
        )
    return DeployTarget(host.name, service, source, model_path, runtime, deployment)


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible tag of the key for logs (never the key)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]
