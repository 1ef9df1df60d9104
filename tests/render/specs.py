"""ServiceSpecs for the render tests, with real files where systemd-analyze looks for them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from moefleet.deploy.service import ServiceSpec

ARGV_STUB = """#!/usr/bin/env python3
import json, os, sys
json.dump({"argv": sys.argv[1:], "key": os.environ.get("VLLM_API_KEY"),
           "env": {k: v for k, v in os.environ.items() if k.startswith("T_")}}, sys.stdout)
"""
HOSTILE = [
    "semi;colon",
    "dollar $HOME ${HOME} $$",
    "percent %h %% %",
    "quotes ' \" `back`",
    "back\\slash \\n \\",
    "  spaces  around  ",
    "#hash",
    "star * ? [a]",
    "",
]


def stub(directory: Path, name: str) -> str:
    """An executable that prints its argv (and VLLM_API_KEY, T_* env) as JSON."""
    path = directory / name
    path.write_text(ARGV_STUB)
    path.chmod(0o755)
    return str(path)


def llama_spec(tmp_path: Path, **overrides: Any) -> ServiceSpec:
    bindir = tmp_path / "bin dir"
    bindir.mkdir(exist_ok=True)
    fields: dict[str, Any] = {
        "name": "moefleet-qwen3-30b-a3b-0",
        "engine": "llama.cpp",
        "backend": "systemd",
        "binary": stub(bindir, "llama-server"),
        "model_path": str(tmp_path / "models" / "qwen3 30b $x %n.gguf"),
        "args": ("-c", "8192", "-np", "2", "-ngl", "99", "-fa", "on", "--metrics"),
        "env": {"LD_LIBRARY_PATH": str(bindir)},
        "bind_host": "127.0.0.1",
        "port": 8080,
        "workdir": str(tmp_path / "run"),
        "gpus": (0, 1),
    }
    fields.update(overrides)
    os.makedirs(fields["workdir"], exist_ok=True)
    return ServiceSpec(**fields)


def vllm_spec(tmp_path: Path, **overrides: Any) -> ServiceSpec:
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {
        "engine": "vllm",
        "binary": stub(bindir, "vllm"),
        "model_path": str(tmp_path / "models" / "Qwen3-30B-A3B-FP8"),
        "args": ("--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.9"),
        "env": {},
        "name": "moefleet-qwen3-vllm-0",
    }
    fields.update(overrides)
    return llama_spec(tmp_path, **fields)
