"""What the end-to-end deploy tests share: the CLI in a subprocess, a free port, probe + plan,
a deploy, and asking the deployed server."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import tomli_w


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


def probe_and_plan(
    work: Path, inventory_data: dict[str, Any], hosts: Sequence[str], key: str
) -> tuple[Path, Path, Path, dict[str, Any]]:
    """Write the inventory, probe it, plan qwen3-30b-a3b (llama.cpp) on ``hosts``, write the
    API key 0600: (inventory, plan file, key file, the probe's JSON)."""
    inventory = work / "inventory.toml"
    inventory.write_text(tomli_w.dumps(inventory_data))
    probe = run_moefleet(work, "probe", "-i", str(inventory), "--json", "--timeout", "8")
    assert probe.returncode == 0, probe.stderr[-2000:]
    plan_file = work / "plan.toml"
    made = run_moefleet(work, "plan", "-i", str(inventory), "--model", "qwen3-30b-a3b",
                        "--engine", "llama.cpp", "-o", str(plan_file), "--json")  # fmt: skip
    assert [d["hosts"] for d in json.loads(made.stdout)["deployment"]] == [[h] for h in hosts]
    key_file = work / "api.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return inventory, plan_file, key_file, json.loads(probe.stdout)


def deploy(
    work: Path, inventory: Path, plan_file: Path, key_file: Path, health_timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    """``moefleet deploy`` of ``plan_file`` with the key."""
    return run_moefleet(
        work, "deploy", "-i", str(inventory), "--plan-file", str(plan_file),
        "--api-key-file", str(key_file), "--health-timeout", str(health_timeout),
    )  # fmt: skip


def health(url: str) -> int:
    """``/health``'s status, 0 when nothing answers."""
    try:
        return httpx.get(f"{url}/health", timeout=10).status_code
    except httpx.TransportError:
        return 0


def answers(url: str, key: str, wait_s: float = 0.0) -> dict[str, Any]:
    """A completion with the key (and 401 without); first waits up to ``wait_s`` for /health."""
    deadline = time.monotonic() + wait_s
    while (status := health(url)) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 200
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    assert httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).status_code == 401
    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60)
    assert answer.status_code == 200
    return dict(answer.json())


def recap_changed(output: str, host: str) -> int:
    """``changed=N`` of ``host``'s PLAY RECAP line."""
    for line in output.splitlines():
        if line.split(":")[0].strip() == host:
            for part in line.split():
                if part.startswith("changed="):
                    return int(part.split("=")[1])
    raise AssertionError(f"no recap line for {host}:\n{output}")


def plan_with_flag(plan_file: Path, flag: str) -> Path:
    """A copy of ``plan_file`` whose first deployment also passes ``flag`` (beside it)."""
    plan = tomllib.loads(plan_file.read_text())
    plan["deployment"][0]["flags"] = [*plan["deployment"][0]["flags"], flag]
    changed = plan_file.with_name(f"{plan_file.stem}-with{flag}.toml")
    changed.write_text(tomli_w.dumps(plan))
    return changed
