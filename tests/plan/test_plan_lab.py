"""`moefleet probe && moefleet plan` on the real-SSH lab: a sensible plan per host, with reasons;
the riser, throttling, CPU-only and old hosts planned accordingly; broken hosts skipped."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest


def _moefleet(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moefleet", "--state", str(state), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def planned(lab, tmp_path_factory):
    """Probe the lab once, then plan it as JSON and as a TOML file."""
    workdir = tmp_path_factory.mktemp("plan")
    state = workdir / "state.db"
    probe = _moefleet(state, "probe", "-i", str(lab.inventory_path), "--json", "--timeout", "8")
    assert probe.returncode == 2, probe.stderr
    plan_file = workdir / "plan.toml"
    result = _moefleet(state, "plan", "-i", str(lab.inventory_path), "--json", "-o", str(plan_file))
    return result, json.loads(result.stdout), plan_file, state


def _by_host(data: dict) -> dict[str, list[dict]]:
    hosts: dict[str, list[dict]] = {}
    for deployment in data["deployment"]:
        for host in deployment["hosts"]:
            hosts.setdefault(host, []).append(deployment)
    return hosts


def test_every_reachable_host_gets_a_deployment_and_broken_ones_are_skipped(planned):
    result, data, _, _ = planned
    assert result.returncode == 2  # some hosts could not be planned
    deployed = _by_host(data)
    assert set(deployed) == {
        "rtx4090", "rtx3090-riser", "a6000x2", "h100x8", "rtx4080s", "cpu-only",
        "throttling", "old-gpu",
    }  # fmt: skip
    assert set(data["skipped"]) == {
        "smi-fails", "smi-hangs", "unreachable", "wrong-hostkey", "auth-fails",
    }  # fmt: skip
    assert "GPU facts unusable" in data["skipped"]["smi-fails"]
    for deployments in deployed.values():
        for deployment in deployments:
            predicted = deployment["predicted"]
            assert predicted["decode_tps"] > 0 and predicted["prefill_tps"] > 0
            assert deployment["flags"] and deployment["alternatives"]
            assert all(alt["why_not"] for alt in deployment["alternatives"])


def test_riser_host_is_kept_off_pcie(planned):
    _, data, _, _ = planned
    (riser,) = _by_host(data)["rtx3090-riser"]
    assert riser["mode"] == "gpu"  # nothing crosses the x8 link at run time
    assert any("PCIe link" in note for note in data["notes"]["rtx3090-riser"])
    offloaded = [a for a in riser["alternatives"] if a["mode"] == "expert_offload"]
    assert all("needs offload" in a["why_not"] for a in offloaded)


def test_throttling_host_is_derated(planned):
    _, data, _, _ = planned
    (hot,) = _by_host(data)["throttling"]
    assert any("throttling" in reason for reason in hot["reasons"])


def test_cpu_only_and_old_gpu_hosts(planned):
    _, data, _, _ = planned
    (cpu,) = _by_host(data)["cpu-only"]
    assert cpu["mode"] == "cpu" and cpu["gpus"] == [] and cpu["engine"] == "llama.cpp"
    assert cpu["flags"][cpu["flags"].index("-ngl") + 1] == "0"
    for old in _by_host(data)["old-gpu"]:
        if old["engine"] == "llama.cpp":
            assert old["flags"][old["flags"].index("-fa") + 1] == "off"


def test_plan_file_round_trips(planned):
    _, data, plan_file, _ = planned
    written = tomllib.loads(plan_file.read_text())
    assert written["plan"]["objective"] == "balanced"
    assert [d["model"] for d in written["deployment"]] == [d["model"] for d in data["deployment"]]


def test_explain_lists_every_candidate_and_rejection(planned, lab):
    _, _, _, state = planned
    result = _moefleet(
        state, "plan", "-i", str(lab.inventory_path), "--explain", "rtx3090-riser", "--json"
    )
    assert result.returncode == 0, result.stderr
    explained = json.loads(result.stdout)
    assert explained["ranked"][0].get("why_not") is None
    assert all("why_not" in entry for entry in explained["ranked"][1:])
    reasons = " ".join(r["reason"] for r in explained["rejected"])
    assert "routing-collapse" in reasons and "does not fit" in reasons
    human = _moefleet(state, "plan", "-i", str(lab.inventory_path), "--explain", "rtx3090-riser")
    assert "rejected" in human.stdout and "candidates by balanced score" in human.stdout
