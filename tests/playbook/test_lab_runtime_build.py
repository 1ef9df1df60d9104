"""install_runtime builds from source and installs into a venv, on real lab hosts.

The source is a small real CMake project made here (a C ``llama-server`` linked to a shared
library in a subdirectory, printing the options CMake was configured with), served as a git
repository (a path: lab hosts share this filesystem) and as a tarball pushed from the
controller or served by a loopback ``http.server``. The venv gets a tiny stand-in wheel
(``vllm-standin``, whose ``vllm`` script prints its version) installed offline: the real vLLM
(GBs of CUDA wheels) cannot be installed here.
"""

# ruff: noqa: E501  (playbooks inline as TOML: one table per line)
from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from moefleet.inventory import load_inventory
from moefleet.playbook.tasks.install_build import cuda_architectures
from moefleet.probe import ProbeOptions, collect_facts
from moefleet.transport import ConnectOptions
from tests.playbook.conftest import on_host

CMAKELISTS = """cmake_minimum_required(VERSION 3.13)
project(standin C)
option(GGML_CUDA "stand-in: CUDA" OFF)
option(LLAMA_USE_PREBUILT_UI "stand-in: would download the web UI" ON)
option(LLAMA_BUILD_TESTS "stand-in: tests" ON)
add_subdirectory(ggml)
add_executable(llama-server server.c)
target_link_libraries(llama-server ggml-standin)
target_compile_definitions(llama-server PRIVATE
  "OPTIONS=\\"GGML_CUDA=${GGML_CUDA} CMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES} LLAMA_USE_PREBUILT_UI=${LLAMA_USE_PREBUILT_UI} LLAMA_BUILD_TESTS=${LLAMA_BUILD_TESTS} CMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}\\"")
add_executable(llama-cli cli.c)
"""
SERVER_C = """#include <stdio.h>
#include "version.h"
const char *ggml_standin(void);
int main(void) {
    printf("version: %s (standin)\\nbuilt with %s lib=%s\\n", VERSION, OPTIONS, ggml_standin());
    return 0;
}
"""
FAKE_NVCC = "#!/bin/sh\necho 'nvcc: stand-in, Cuda compilation tools, release 12.4'\n"


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()


def _commit(repo: Path, version: str, tag: str, broken: bool = False) -> str:
    (repo / "version.h").write_text(
        f'#define VERSION "{version}"\n' + ("this is not C;\n" if broken else "")
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"version {version}")
    _git(repo, "tag", tag)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def shared(lab) -> Iterator[Path]:
    """A directory every lab host can read (lab hosts share this filesystem), owned by the
    lab's login user so that its git does not refuse the repository as someone else's."""
    root = Path(tempfile.mkdtemp(prefix="moefleet-build-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def project(lab, shared) -> dict[str, str]:
    """The stand-in llama.cpp as a git repository with tags v1, v2 and broken."""
    repo = shared / "standin"
    (repo / "ggml").mkdir(parents=True)
    (repo / "CMakeLists.txt").write_text(CMAKELISTS)
    (repo / "server.c").write_text(SERVER_C)
    (repo / "cli.c").write_text("int main(void) { return 0; }\n")
    (repo / "ggml" / "CMakeLists.txt").write_text("add_library(ggml-standin SHARED ggml.c)\n")
    (repo / "ggml" / "ggml.c").write_text(
        'const char *ggml_standin(void) { return "ggml-standin"; }\n'
    )
    _git(repo, "init", "-q")
    commits = {"v1": _commit(repo, "1", "v1"), "v2": _commit(repo, "2", "v2")}
    commits["broken"] = _commit(repo, "3", "broken", broken=True)
    nvcc = shared / "nvcc"
    nvcc.write_text(FAKE_NVCC)
    nvcc.chmod(0o755)
    if os.geteuid() == 0:
        login = pwd.getpwnam(lab.user)
        for path in [shared, *shared.rglob("*")]:
            os.lchown(path, login.pw_uid, login.pw_gid)
    return {"repo": str(repo), "nvcc": str(nvcc), **commits}


@pytest.fixture(scope="module")
def probed_archs(lab) -> str | None:
    """CMAKE_CUDA_ARCHITECTURES for the rtx4090 lab host, from a real probe of it."""
    inventory = load_inventory(lab.inventory_path)
    connect = ConnectOptions.from_settings(inventory.settings)
    facts = collect_facts(inventory.hosts["rtx4090"], ProbeOptions(connect=connect, timeout=60))
    return cuda_architectures(facts.gpus)


BUILD = """
[[plays]]
[[plays.tasks]]
name = "runtime"
install_runtime = {{ binary = "llama-server", dest = "{dest}", build = {{ {build} }} }}
"""


def _version(lab, host: str, dest: str) -> str:
    return on_host(lab, host, f"{dest}/llama-server --version")


def test_a_git_ref_is_built_with_the_probed_cuda_archs_once(
    play, lab, workdir, project, probed_archs
):
    assert probed_archs == "89"  # the rtx4090 profile's compute capability 8.9
    dest = f"{workdir}/llama"
    build = f'git = "{project["repo"]}", ref = "v1", cuda_archs = "{probed_archs}", env = {{ CUDACXX = "{project["nvcc"]}" }}'
    first, lines = play(BUILD.format(dest=dest, build=build), limit="rtx4090")
    result = first.find("rtx4090", "runtime")
    assert result.changed, lines
    assert result.data["resolved"] == project["v1"]
    # the installed binary runs from dest without help: its library came along ($ORIGIN rpath)
    version = _version(lab, "rtx4090", dest)
    assert version.startswith("version: 1 (standin)")
    for option in (
        "GGML_CUDA=ON",
        "CMAKE_CUDA_ARCHITECTURES=89",
        "LLAMA_USE_PREBUILT_UI=OFF",
        "LLAMA_BUILD_TESTS=OFF",
        "CMAKE_BUILD_TYPE=Release",
        "lib=ggml-standin",
    ):
        assert option in version
    assert "libggml-standin.so" in on_host(lab, "rtx4090", f"ls {dest}")
    build_dir = f"{dest}.moefleet-build/build"
    assert on_host(lab, "rtx4090", f"find {build_dir} -name llama-cli") == ""  # one target only
    assert "-DCMAKE_CUDA_ARCHITECTURES=89" in on_host(
        lab, "rtx4090", f"cat {dest}/.moefleet-runtime"
    )

    before = on_host(
        lab, "rtx4090", f"stat -c %i.%Y {dest}/llama-server {dest}.moefleet-build/build.log"
    )
    again, _ = play(BUILD.format(dest=dest, build=build), limit="rtx4090")
    assert again.ok and again.changed == 0
    assert (
        on_host(
            lab, "rtx4090", f"stat -c %i.%Y {dest}/llama-server {dest}.moefleet-build/build.log"
        )
        == before
    )


def test_check_mode_a_new_ref_and_failures_that_keep_the_install(play, lab, workdir, project):
    dest = f"{workdir}/llama"
    src = f"{dest}.moefleet-build/src"

    def run(ref: str, extra: str = "", **kw):
        build = f'git = "{project["repo"]}", ref = "{ref}"{extra}'
        report, _ = play(BUILD.format(dest=dest, build=build), limit="cpu-only", **kw)
        return report.find("cpu-only", "runtime")

    assert run("v1").changed
    assert "GGML_CUDA=OFF CMAKE_CUDA_ARCHITECTURES= " in _version(
        lab, "cpu-only", dest
    )  # CPU build

    checked = run("v2", check=True)
    assert checked.changed and checked.message.startswith("would build llama-server from")
    assert project["v2"][:12] in checked.message
    assert _version(lab, "cpu-only", dest).startswith("version: 1 ")  # nothing was built...
    assert (
        on_host(lab, "cpu-only", f"git -C {src} rev-parse HEAD").strip() == project["v1"]
    )  # ...or fetched
    assert lab.run("cpu-only", f"ls -d {dest}.moefleet-new").returncode != 0

    upgraded = run("v2")
    assert upgraded.changed and upgraded.data["resolved"] == project["v2"]
    assert _version(lab, "cpu-only", dest).startswith("version: 2 ")
    assert on_host(lab, "cpu-only", f"{dest}.moefleet-old/llama-server --version").startswith(
        "version: 1 "
    )

    bad_ref = run("no-such-ref")
    assert bad_ref.status == "failed"
    assert f"{project['repo']} has no branch or tag 'no-such-ref'" in bad_ref.message

    no_compiler = run("v1", ', env = { CC = "/nonexistent/cc-99" }')
    assert no_compiler.status == "failed"
    assert "missing C-compiler(CC=/nonexistent/cc-99)" in no_compiler.message

    no_nvcc = run("v1", ', cuda_archs = "86", env = { CUDACXX = "/nonexistent/nvcc" }')
    assert "missing nvcc(CUDACXX=/nonexistent/nvcc)" in no_nvcc.message

    broken = run("broken")
    assert broken.status == "failed"
    assert "build of" in broken.message and "the previous install is untouched" in broken.message
    assert "this is not C" in broken.message or "error" in broken.message  # the log's tail
    assert on_host(lab, "cpu-only", f"ls {dest}.moefleet-build/build.log")  # kept on the host

    assert _version(lab, "cpu-only", dest).startswith("version: 2 ")  # still the last good one

    short = project["v1"][:10]  # only a fetch can tell which commit: the full-fetch fallback
    by_sha = run(short)
    assert by_sha.changed and by_sha.data["resolved"] == project["v1"]
    assert _version(lab, "cpu-only", dest).startswith("version: 1 ")
    assert run(short).status == "ok"  # fetched again, same commit: nothing built


@pytest.fixture(scope="module")
def tarball(project, tmp_path_factory) -> Path:
    """v1 of the project as a GitHub-style archive (one top-level directory)."""
    path = tmp_path_factory.mktemp("tarballs") / "standin-1.tar.gz"
    _git(Path(project["repo"]), "archive", "--prefix=standin-1/", "-o", str(path), "v1")
    return path


@pytest.fixture
def http_server(tarball) -> Iterator[tuple[str, list[str]]]:
    """The tarball's directory over HTTP on loopback; the paths it was asked for."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    handler = functools.partial(Handler, directory=str(tarball.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{tarball.name}", requests
    server.shutdown()
    server.server_close()


def test_a_tarball_pushed_from_the_controller(play, lab, workdir, tarball):
    dest = f"{workdir}/llama"
    toml = BUILD.format(dest=dest, build=f'tarball = "{tarball}"')
    first, lines = play(toml, limit="cpu-only")
    result = first.find("cpu-only", "runtime")
    assert result.changed, lines
    assert result.data["resolved"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert _version(lab, "cpu-only", dest).startswith("version: 1 (standin)")
    assert play(toml, limit="cpu-only")[0].changed == 0


def test_a_tarball_over_http_with_and_without_its_sha256(play, lab, workdir, tarball, http_server):
    url, requests = http_server
    dest = f"{workdir}/llama"
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    plain = BUILD.format(dest=dest, build=f'tarball = "{url}"')
    first, lines = play(plain, limit="cpu-only")
    assert first.find("cpu-only", "runtime").changed, lines
    assert _version(lab, "cpu-only", dest).startswith("version: 1 (standin)")

    assert play(plain, limit="cpu-only", check=True)[0].changed == 0  # hashed on the host: same
    assert play(plain, limit="cpu-only")[0].changed == 0  # fetched again, same sha256: no build
    assert len(requests) == 3

    pinned = BUILD.format(dest=dest, build=f'tarball = "{url}", sha256 = "{sha}"')
    assert play(pinned, limit="cpu-only")[0].changed == 0  # the same recipe: already built
    assert len(requests) == 3  # and a pinned tarball that is up to date is not fetched

    wrong = BUILD.format(dest=f"{workdir}/other", build=f'tarball = "{url}", sha256 = "{"0" * 64}"')
    failed = play(wrong, limit="cpu-only")[0].find("cpu-only", "runtime")
    assert failed.status == "failed" and f"has sha256 {sha}, not {'0' * 64}" in failed.message


# --- vLLM into a venv -------------------------------------------------------------------------


def _wheel(directory: Path, version: str) -> None:
    """A pure-Python wheel ``vllm-standin`` whose ``vllm`` script prints ``version``."""
    dist = f"vllm_standin-{version}.dist-info"
    files = {
        "vllm_standin/__init__.py": f"def main():\n    print({version!r})\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: vllm-standin\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: moefleet-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\nvllm = vllm_standin:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(directory / f"vllm_standin-{version}-py3-none-any.whl", "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)


@pytest.fixture(scope="module")
def wheels(shared) -> str:
    directory = shared / "wheels"
    directory.mkdir()
    for version in ("0.33.0", "0.34.0"):
        _wheel(directory, version)
    for path in (directory, *directory.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return str(directory)


VENV = """
[[plays]]
[[plays.tasks]]
name = "vllm"
install_runtime = {{ binary = "bin/vllm", dest = "{dest}", venv = {{ package = "{package}", pip_args = ["--no-index", "--find-links", "{wheels}"] }}{extra} }}
"""


def test_vllm_into_a_venv_offline(play, lab, workdir, wheels):
    dest = f"{workdir}/vllm"

    def run(package: str, extra: str = "", **kw):
        toml = VENV.format(dest=dest, package=package, wheels=wheels, extra=extra)
        return play(toml, limit="cpu-only", **kw)[0].find("cpu-only", "vllm")

    first = run("vllm-standin==0.33.0")
    assert first.changed and first.data["version"] == "0.33.0", first.message
    assert on_host(lab, "cpu-only", f"{dest}/bin/vllm --version") == "0.33.0\n"
    assert run("vllm-standin==0.33.0").status == "ok"

    checked = run("vllm-standin==0.34.0", check=True)
    assert checked.changed and checked.message == "would pip install vllm-standin==0.34.0 into it"
    assert on_host(lab, "cpu-only", f"{dest}/bin/vllm --version") == "0.33.0\n"

    upgraded = run("vllm-standin==0.34.0")
    assert upgraded.changed and upgraded.data["version"] == "0.34.0"

    wrong = run("vllm-standin==0.34.0", extra=', version = "9.9"')
    assert wrong.status == "failed" and "is not version '9.9'" in wrong.message

    missing = run("vllm-standin==1.0")
    assert missing.status == "failed" and "pip install vllm-standin==1.0" in missing.message
    assert "No matching distribution" in missing.message  # pip's log tail
    assert run("vllm-standin==0.34.0").changed  # the failed run removed the stamp: redone
    assert on_host(lab, "cpu-only", f"{dest}/bin/vllm --version") == "0.34.0\n"
