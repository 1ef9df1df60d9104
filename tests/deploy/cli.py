"""What the end-to-end deploy tests share: the CLI in a subprocess, and a free port."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def run_moefleet(work: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m moefleet --state work/state.db ARGS`` without the user's model catalog."""
    env = dict(os.environ, MOEFLEET_CATALOG=str(work / "no-user-catalog.toml"))
    return subprocess.run(
        [sys.executable, "-m", "moefleet", "--state", str(work / "state.db"), *args],
        capture_output=True, text=True, timeout=timeout, check=False, env=env,
    )  # fmt: skip


def free_port(ports: Sequence[int]) -> int:
    """A port of ``ports`` nothing listens on. Never a fixed one: llama-server binds with
    SO_REUSEPORT, so a concurrent run's server (same lab user) would silently share it."""
    for port in random.sample(list(ports), len(ports)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {ports}")
