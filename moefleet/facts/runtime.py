"""Versions of installed programs from their ``--version`` output.

Every parser takes the program's combined stdout/stderr and the path the caller found it at.
A program that exists but prints no recognisable version gives ``version=None`` with the first
line of its output in ``detail`` (useful in a report), never an exception.
"""

from __future__ import annotations

import re

from moefleet.facts.model import ToolVersion

_DETAIL_MAX = 120

# llama.cpp common/arg.cpp prints to stderr:
#   "version: %d (%s)\n" (build number, commit) then "built with %s for %s\n" (compiler, target);
# newer releases print "version: 0.4.1-dev (build 10991, commit 930e2fa59)".
_LLAMA_OLD = re.compile(r"^version:\s*(\d{1,9})\s*\(([0-9a-fA-F]{4,40}|unknown)\)", re.M)
_LLAMA_NEW = re.compile(
    r"^version:\s*(\S{1,40})\s*\(build\s+(\d{1,9}),\s*commit\s+([0-9a-zA-Z]{1,40})\)", re.M
)
_LLAMA_BUILT = re.compile(r"^built with (.{1,200}?) for (\S.{0,80}?)\s*$", re.M)
# Backend hints printed before the version when backends load (ggml_cuda_init, load_backend...).
_LLAMA_BACKENDS = (
    ("CUDA", re.compile(r"ggml_cuda_init: found \d+ CUDA devices|loaded CUDA backend")),
    ("ROCm", re.compile(r"ggml_cuda_init: found \d+ ROCm devices|loaded ROCm backend")),
    ("Vulkan", re.compile(r"ggml_vulkan: Found \d+ Vulkan devices|loaded Vulkan backend")),
    ("Metal", re.compile(r"ggml_metal_init|loaded Metal backend")),
    ("SYCL", re.compile(r"ggml_sycl|loaded SYCL backend")),
)
_DOCKER = re.compile(r"\bDocker version\s+([0-9][\w.+~-]{0,40}?),?\s+build\s+(\w{1,40})")
_PODMAN = re.compile(r"\bpodman version\s+([0-9][\w.+~-]{0,40})")
_SYSTEMD = re.compile(r"^systemd\s+(\d{1,5})(?:\s+\(([^)]{1,80})\))?", re.M)
_NVCC = re.compile(r"release\s+(\d{1,3}\.\d{1,3}),\s*V(\d{1,3}(?:\.\d{1,5}){1,3})")
_PYTHON = re.compile(r"^Python\s+(\d{1,2}\.\d{1,3}(?:\.\d{1,3})?\S{0,20})", re.M)


def parse_llama_server_version(text: str, path: str | None) -> ToolVersion:
    """llama.cpp build number as the version; commit, backends and compiler in detail."""
    new = _LLAMA_NEW.search(text)
    old = _LLAMA_OLD.search(text)
    if new is not None:
        version, parts = new.group(2), [f"release {new.group(1)}", f"commit {new.group(3)}"]
    elif old is not None:
        version, parts = old.group(1), [f"commit {old.group(2)}"]
    else:
        return _unrecognised(text, path)
    backends = [name for name, pattern in _LLAMA_BACKENDS if pattern.search(text)]
    if backends:
        parts.append("backends " + "+".join(backends))
    built = _LLAMA_BUILT.search(text)
    if built is not None:
        parts.append(f"built with {built.group(1)} for {built.group(2)}")
    return ToolVersion(path=path, version=version, detail=", ".join(parts))


def parse_docker_version(text: str, path: str | None) -> ToolVersion:
    """'Docker version 28.2.2, build e6534b4' -> 28.2.2 (podman's docker shim is named)."""
    docker = _DOCKER.search(text)
    if docker is not None:
        return ToolVersion(path=path, version=docker.group(1), detail=f"build {docker.group(2)}")
    podman = _PODMAN.search(text)
    if podman is not None:
        return ToolVersion(path=path, version=podman.group(1), detail="podman")
    return _unrecognised(text, path)


def parse_systemctl_version(text: str, path: str | None) -> ToolVersion:
    """'systemd 252 (252.38-1~deb12u1)' -> 252, with the package version in detail."""
    match = _SYSTEMD.search(text)
    if match is None:
        return _unrecognised(text, path)
    return ToolVersion(path=path, version=match.group(1), detail=match.group(2))


def parse_nvcc_version(text: str, path: str | None) -> ToolVersion:
    """'Cuda compilation tools, release 12.4, V12.4.131' -> 12.4, detail V12.4.131."""
    match = _NVCC.search(text)
    if match is None:
        return _unrecognised(text, path)
    return ToolVersion(path=path, version=match.group(1), detail=f"V{match.group(2)}")


def parse_python_version(text: str, path: str | None) -> ToolVersion:
    """'Python 3.11.7' -> 3.11.7."""
    match = _PYTHON.search(text)
    if match is None:
        return _unrecognised(text, path)
    return ToolVersion(path=path, version=match.group(1))


def _unrecognised(text: str, path: str | None) -> ToolVersion:
    """The program exists but said no version we know: keep its first line as a hint."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return ToolVersion(path=path, version=None, detail=first[:_DETAIL_MAX] if first else None)
