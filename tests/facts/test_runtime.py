"""--version parsers for llama-server, docker, systemctl, nvcc and python."""

from __future__ import annotations

import pytest

from moefleet.facts.model import ToolVersion
from moefleet.facts.runtime import (
    parse_docker_version,
    parse_llama_server_version,
    parse_nvcc_version,
    parse_python_version,
    parse_systemctl_version,
)
from tests.facts.system_helpers import assert_parses_or_raises_parse_error

LLAMA_CUDA = """\
ggml_cuda_init: GGML_CUDA_FORCE_MMQ:    no
ggml_cuda_init: GGML_CUDA_FORCE_CUBLAS: no
ggml_cuda_init: found 2 CUDA devices:
  Device 0: NVIDIA GeForce RTX 3090, compute capability 8.6, VMM: yes
  Device 1: NVIDIA GeForce RTX 3090, compute capability 8.6, VMM: yes
version: 5123 (0a1b2c3d)
built with cc (Debian 12.2.0-14) 12.2.0 for x86_64-linux-gnu
"""
LLAMA_NEW = """\
version: 0.5.0-dev (build 11042, commit 9f8e7d6c5)
built with GNU 13.3.0 for Linux x86_64
"""
NVCC = """\
nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2025 NVIDIA Corporation
Built on Wed_Jan_15_19:20:09_PST_2025
Cuda compilation tools, release 12.8, V12.8.61
Build cuda_12.8.r12.8/compiler.35404655_0
"""
SYSTEMD = "systemd 255 (255.4-1ubuntu8.6)\n+PAM +AUDIT +SELINUX -APPARMOR +IMA +SMACK\n"


def test_llama_server_old_format_with_cuda_init():
    tool = parse_llama_server_version(LLAMA_CUDA, "/usr/local/bin/llama-server")
    assert tool == ToolVersion(
        path="/usr/local/bin/llama-server",
        version="5123",
        detail="commit 0a1b2c3d, backends CUDA, "
        "built with cc (Debian 12.2.0-14) 12.2.0 for x86_64-linux-gnu",
    )


def test_llama_server_new_format():
    tool = parse_llama_server_version(LLAMA_NEW, None)
    assert tool.version == "11042"
    assert tool.detail == (
        "release 0.5.0-dev, commit 9f8e7d6c5, built with GNU 13.3.0 for Linux x86_64"
    )


def test_llama_server_vulkan_backend_is_named():
    text = "ggml_vulkan: Found 1 Vulkan devices:\nversion: 4000 (abcdef12)\n"
    assert parse_llama_server_version(text, None).detail == "commit abcdef12, backends Vulkan"


def test_docker_and_podman():
    docker = parse_docker_version("Docker version 27.5.1, build 9f9e405\n", "/usr/bin/docker")
    assert (docker.version, docker.detail, docker.path) == (
        "27.5.1",
        "build 9f9e405",
        "/usr/bin/docker",
    )
    podman = parse_docker_version("podman version 5.2.2\n", None)
    assert (podman.version, podman.detail) == ("5.2.2", "podman")


def test_systemctl():
    tool = parse_systemctl_version(SYSTEMD, "/usr/bin/systemctl")
    assert (tool.version, tool.detail) == ("255", "255.4-1ubuntu8.6")
    assert parse_systemctl_version("systemd 219\n", None).version == "219"


def test_nvcc():
    tool = parse_nvcc_version(NVCC, "/usr/local/cuda/bin/nvcc")
    assert (tool.version, tool.detail) == ("12.8", "V12.8.61")


def test_python():
    assert parse_python_version("Python 3.12.3\n", "/usr/bin/python3").version == "3.12.3"
    assert parse_python_version("Python 3.13.0rc2\n", None).version == "3.13.0rc2"


@pytest.mark.parametrize(
    "parser",
    [
        parse_llama_server_version,
        parse_docker_version,
        parse_systemctl_version,
        parse_nvcc_version,
        parse_python_version,
    ],
)
def test_unrecognised_output_has_no_version_but_keeps_a_hint(parser):
    tool = parser("\n  error while loading shared libraries: libfoo.so.1\nmore\n", "/x")
    assert tool == ToolVersion(
        path="/x", version=None, detail="error while loading shared libraries: libfoo.so.1"
    )
    assert parser("", None) == ToolVersion()


@pytest.mark.parametrize(
    ("parser", "sample"),
    [
        (parse_llama_server_version, LLAMA_CUDA),
        (parse_llama_server_version, LLAMA_NEW),
        (parse_docker_version, "Docker version 27.5.1, build 9f9e405\n"),
        (parse_systemctl_version, SYSTEMD),
        (parse_nvcc_version, NVCC),
        (parse_python_version, "Python 3.12.3\n"),
    ],
)
def test_fuzz_version_parsers(parser, sample):
    assert_parses_or_raises_parse_error(lambda text: parser(text, "/p"), sample, ToolVersion)
