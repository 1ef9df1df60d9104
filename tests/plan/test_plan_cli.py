"""`moefleet plan` without a lab: --what-if hardware, errors, and the local machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from moefleet.plan.whatif import WhatIfError
from tests.plan.helpers import GIB, node


def _moefleet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moefleet", "--state", str(tmp_path / "s.db"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_what_if_parses_counts_ram_and_cpu() -> None:
    box = node("2x RTX 3090, 64GB")
    assert [g.name for g in box.gpus] == ["GeForce RTX 3090"] * 2
    assert box.ram_bytes == 64 * 10**9 and box.cpu_threads == 16
    server = node("8 x H100 SXM, 1TiB, cpu: AMD EPYC 9654, 192 threads")
    assert len(server.gpus) == 8 and server.ram_bytes == 1024 * GIB
    assert server.ram_bandwidth_gbs == 460.0 and server.cpu_threads == 192
    assert node("64GB").gpus == ()


@pytest.mark.parametrize("text", ["2x GTX 9999", "lots of RAM", "3x"])
def test_what_if_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(WhatIfError, match="cannot read"):
        node(text)


def test_plan_what_if_json(tmp_path: Path) -> None:
    result = _moefleet(
        tmp_path, "plan", "--what-if", "2x RTX 3090, 64GB", "--want", "qwen3-30b-a3b=2",
        "--no-fill", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["model"] for d in data["deployment"]] == ["qwen3-30b-a3b"] * 2
    assert sorted(g for d in data["deployment"] for g in d["gpus"]) == [0, 1]
    assert data["plan"]["replicas"] == {"qwen3-30b-a3b": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--want", "no-such-model=2"], "unknown model 'no-such-model'"),
        (["--want", "qwen3-8b=two"], "whole number"),
        (["--what-if", "2x GTX 9999"], "cannot read"),
        (["--what-if", "RTX 4090", "--explain", "nowhere"], "no planned host 'nowhere'"),
    ],
)
def test_bad_input_is_one_message_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    result = _moefleet(tmp_path, "plan", *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_plan_this_machine_after_probe(tmp_path: Path) -> None:
    probe = _moefleet(tmp_path, "probe", "--json")
    assert probe.returncode in (0, 2)
    result = _moefleet(tmp_path, "plan", "--json")
    data = json.loads(result.stdout)
    (local,) = json.loads(probe.stdout)["hosts"]
    planned = {h for d in data["deployment"] for h in d["hosts"]}
    assert planned == {local["host"]} or local["host"] in data.get("skipped", {})


def test_plan_before_probe_says_so(tmp_path: Path) -> None:
    result = _moefleet(tmp_path, "plan")
    assert result.returncode == 2
    assert "never probed" in result.stderr
