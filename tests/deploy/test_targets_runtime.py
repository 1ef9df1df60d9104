"""Runtime sources from host vars and probed facts: CUDA architectures, builds, venvs, and the
install_runtime arguments the packaged deploy playbook renders from them (pure, no hosts)."""

# ruff: noqa: E501  (inventories inline as TOML)
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from moefleet.deploy.planfile import read_plan
from moefleet.deploy.run import _runtime_var, deploy_playbook_path, service_var
from moefleet.deploy.targets import DeployError, _runtime, _vllm_runtime, deploy_targets
from moefleet.facts.model import GpuFacts, GpuReport, HostFacts
from moefleet.inventory import Host, load_inventory
from moefleet.playbook import load_playbook
from moefleet.playbook.tasks.install_build import BuildArgs, cmake_options, cuda_architectures
from moefleet.playbook.tasks.install_runtime import InstallRuntimeArgs
from moefleet.playbook.tasks.install_source import pick_commit
from moefleet.playbook.tasks.install_venv import wanted_version
from moefleet.playbook.templating import render_value
from tests.deploy.test_targets import _plan

ROOT = "/srv/moefleet"
GIT = {"git": "https://github.com/ggml-org/llama.cpp", "ref": "b6000"}


def _gpu(capability: str | None, vendor: str = "nvidia", index: int = 0) -> GpuFacts:
    return GpuFacts(index=index, name="GPU", vendor=vendor, compute_capability=capability)  # type: ignore[arg-type]


def _facts(*capabilities: str | None, vendor: str = "nvidia") -> HostFacts:
    gpus = [_gpu(c, vendor, i) for i, c in enumerate(capabilities)]
    report = GpuReport(source="nvml", gpus=gpus) if gpus else None
    return HostFacts(
        host="gpu1", collected_at=datetime(2026, 1, 1, tzinfo=UTC), collector="python", gpu=report
    )


def _host(tmp_path: Path, runtime: str) -> Host:
    path = tmp_path / "inventory.toml"
    path.write_text(f'[hosts.gpu1]\naddress = "10.0.0.1"\n[hosts.gpu1.vars]\n{runtime}\n')
    return load_inventory(path).hosts["gpu1"]


@pytest.mark.parametrize(
    ("capabilities", "archs"),
    [
        (["8.9"], "89"),
        (["8.9", "8.6", "8.6"], "86;89"),  # mixed: each once, ascending
        (["12.0", "9.0"], "90;120"),  # numeric order, not text order
        (["7.0", None, "N/A"], "70"),  # unknown capabilities are skipped
        ([], None),  # no GPU: a CPU build
        ([None], None),
    ],
)
def test_cuda_architectures_from_probed_capabilities(capabilities, archs) -> None:
    assert cuda_architectures(_facts(*capabilities).gpus) == archs


def test_amd_gpus_give_no_cuda_architectures() -> None:
    assert cuda_architectures(_facts("9.0", vendor="amd").gpus) is None


def test_cmake_options_for_cuda_and_cpu_builds() -> None:
    cuda = cmake_options(BuildArgs(**GIT, cuda_archs="86;89", cmake_args=["-DGGML_NATIVE=OFF"]))
    assert "-DGGML_CUDA=ON" in cuda and "-DCMAKE_CUDA_ARCHITECTURES=86;89" in cuda
    assert {
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
    } <= set(cuda)
    assert cuda[-1] == "-DGGML_NATIVE=OFF"  # the user's come last, so they win
    cpu = cmake_options(BuildArgs(tarball="/x.tar.gz"))
    assert "-DGGML_CUDA=OFF" in cpu and not any("ARCHITECTURES" in o for o in cpu)


def test_build_args_refuse_ambiguous_or_unsafe_input() -> None:
    for bad in (
        {},
        {**GIT, "tarball": "/x.tar.gz"},
        {**GIT, "sha256": "ab"},
        {"git": "--upload-pack=evil", "ref": "x"},
        {**GIT, "ref": "-x"},
        {"tarball": "/x.tar.gz", "subdir": "../etc"},
        {"tarball": "/x.tar.gz", "env": {"A B": "x"}},
    ):
        with pytest.raises(ValueError):
            BuildArgs(**bad)


def test_ls_remote_lookup_prefers_the_peeled_tag() -> None:
    listing = (
        "a" * 40
        + "\trefs/heads/b6000\n"
        + "b" * 40
        + "\trefs/tags/b6000\n"
        + "c" * 40
        + "\trefs/tags/b6000^{}\n"
    )
    assert pick_commit(listing, "b6000") == "c" * 40  # an annotated tag's commit
    assert pick_commit("d" * 40 + "\trefs/heads/main\n", "main") == "d" * 40
    assert pick_commit("e" * 40 + "\tHEAD\n", "HEAD") == "e" * 40
    assert pick_commit("", "b1") is None


def test_the_venv_checks_the_pinned_version() -> None:
    assert wanted_version("vllm==0.11.0", None) == "0.11.0"
    assert wanted_version("vllm>=0.10", None) is None
    assert wanted_version("vllm==0.11.0", "0.11") == "0.11"


def test_llama_build_with_cuda_auto_takes_the_probed_archs(tmp_path: Path) -> None:
    host = _host(
        tmp_path, f'llama_runtime = {{ build = {{ git = "{GIT["git"]}", ref = "b6000" }} }}'
    )
    source = _runtime(host, _facts("8.6", "8.9"), ROOT)
    assert source.binary == f"{ROOT}/runtime/llama.cpp/llama-server"
    assert source.dest == f"{ROOT}/runtime/llama.cpp"
    assert source.build == {**GIT, "cuda_archs": "86;89"}
    assert _runtime(host, _facts(), ROOT).build == {**GIT, "cuda_archs": None}  # CPU host


def test_llama_build_cuda_choices(tmp_path: Path) -> None:
    build = 'build = { tarball = "https://mirror.lan/llama.cpp-b6000.tar.gz" }'
    off = _host(tmp_path, f"llama_runtime = {{ {build}, cuda = false }}")
    assert _runtime(off, _facts("8.9"), ROOT).build["cuda_archs"] is None  # type: ignore[index]
    on = _host(tmp_path, f"llama_runtime = {{ {build}, cuda = true }}")
    assert _runtime(on, _facts("9.0"), ROOT).build["cuda_archs"] == "90"  # type: ignore[index]
    with pytest.raises(DeployError, match="cuda = true, but the probe found no NVIDIA GPU"):
        _runtime(on, _facts(), ROOT)
    with pytest.raises(DeployError, match="needs the host's probed GPUs"):
        _runtime(on, None, ROOT)  # never probed: auto/true cannot be decided
    pinned = _host(
        tmp_path, 'llama_runtime = { build = { tarball = "/t.tgz", cuda_archs = "80" } }'
    )
    assert _runtime(pinned, None, ROOT).build["cuda_archs"] == "80"  # type: ignore[index]
    bad = _host(
        tmp_path, 'llama_runtime = { build = { tarball = "/t.tgz", git = "x" }, cuda = false }'
    )
    with pytest.raises(DeployError, match="exactly one of git"):
        _runtime(bad, None, ROOT)
    weird = _host(tmp_path, f'llama_runtime = {{ {build}, cuda = "yes" }}')
    with pytest.raises(DeployError, match='cuda = true, false or "auto"'):
        _runtime(weird, None, ROOT)


def test_vllm_venv_and_path_forms(tmp_path: Path) -> None:
    host = _host(
        tmp_path,
        'vllm_runtime = { venv = "/opt/vllm/", package = "vllm==0.11.0", pip_args = ["--index-url", "https://pypi.lan/simple"] }',
    )
    source = _vllm_runtime(host, None)
    assert (source.binary, source.dest) == ("/opt/vllm/bin/vllm", "/opt/vllm")
    assert source.venv == {
        "package": "vllm==0.11.0",
        "pip_args": ["--index-url", "https://pypi.lan/simple"],
    }
    assert (
        _vllm_runtime(_host(tmp_path, 'vllm_runtime = { path = "/x/bin/vllm" }'), None).binary
        == "/x/bin/vllm"
    )
    with pytest.raises(DeployError, match="must not start with '-'"):
        _vllm_runtime(_host(tmp_path, 'vllm_runtime = { venv = "/v", package = "-e ." }'), None)
    with pytest.raises(DeployError) as missing:
        _vllm_runtime(_host(tmp_path, ""), None)
    assert "vllm_runtime = { venv" in str(missing.value.hint)


def _rendered_runtime_args(runtime: dict[str, Any]) -> InstallRuntimeArgs:
    """The deploy playbook's runtime task rendered for one service, as the runner does."""
    playbook = load_playbook(deploy_playbook_path())
    task = next(t for t in playbook.plays[0].tasks if t.name == "runtime")
    assert task.install_runtime is not None
    args = render_value(task.install_runtime, {"item": {"runtime": runtime}})
    return InstallRuntimeArgs.model_validate(args)


def test_the_deploy_playbook_passes_a_build_to_install_runtime(tmp_path: Path) -> None:
    text = (
        '[hosts.gpu1]\naddress = "10.0.0.1"\n[hosts.gpu1.vars]\nmoefleet_dir = "/srv/moefleet"\n'
        f'llama_runtime = {{ build = {{ git = "{GIT["git"]}", ref = "b6000", jobs = 4 }} }}\n'
        '[hosts.gpu1.vars.model_sources."qwen3-8b"]\nurl = "https://mirror.lan/q.gguf"\nsize = 1\n'
        f'sha256 = "{"ab" * 32}"\n'
    )
    (tmp_path / "inventory.toml").write_text(text)
    inventory = load_inventory(tmp_path / "inventory.toml")
    plan = read_plan(_plan(tmp_path))
    targets, problems = deploy_targets(
        list(plan.deployment), inventory.hosts, {"gpu1": _facts("8.9", "8.9")}, None
    )
    assert problems == {}
    runtime = service_var(targets[0], None)["runtime"]
    assert runtime == {
        "dest": f"{ROOT}/runtime/llama.cpp",
        "binary": "llama-server",
        "build": {**GIT, "jobs": 4, "cuda_archs": "89"},
    }
    args = _rendered_runtime_args(runtime)
    assert (
        isinstance(args.build, BuildArgs) and args.build.cuda_archs == "89" and args.build.jobs == 4
    )
    assert args.binary_path() == targets[0].service.binary
    assert targets[0].service.env["LD_LIBRARY_PATH"] == f"{ROOT}/runtime/llama.cpp"


def test_the_deploy_playbook_passes_a_venv_and_keeps_the_old_forms(tmp_path: Path) -> None:
    host = _host(tmp_path, 'vllm_runtime = { venv = "/opt/vllm", package = "vllm==0.11.0" }')
    target = SimpleNamespace(runtime=_vllm_runtime(host, None))
    runtime = _runtime_var(target)  # type: ignore[arg-type]
    assert runtime == {
        "dest": "/opt/vllm",
        "binary": "bin/vllm",
        "venv": {"package": "vllm==0.11.0"},
    }
    args = _rendered_runtime_args(runtime)
    assert args.venv is not None and args.venv.package == "vllm==0.11.0" and args.build is None
    assert args.binary_path() == "/opt/vllm/bin/vllm"

    upload = _runtime(_host(tmp_path, 'llama_runtime = { src = "/build/llama" }'), None, ROOT)
    target = SimpleNamespace(runtime=upload)
    runtime = _runtime_var(target)  # type: ignore[arg-type]
    assert runtime == {
        "dest": f"{ROOT}/runtime/llama.cpp",
        "binary": "llama-server",
        "src": "/build/llama",
    }
    assert _rendered_runtime_args(runtime).src == "/build/llama"
