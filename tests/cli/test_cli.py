"""The real `moefleet` command: local default, clear errors and exit codes, --import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.lab import get_profile, render


def moefleet(*args: str, tmp_path: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOEFLEET_STATE": str(tmp_path / "state.db"), "COLUMNS": "150"}
    return subprocess.run(
        [sys.executable, "-m", "moefleet", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
        **kwargs,
    )


def test_probe_without_inventory_probes_this_machine(tmp_path):
    result = moefleet("probe", "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    (host,) = json.loads(result.stdout)["hosts"]
    assert host["host"] == "localhost" and host["target"] == "local"
    facts = host["facts"]
    assert facts["memory"]["total_bytes"] > 0 and facts["cpu"]["threads"] >= 1
    if not facts["gpu"]:
        assert "host.no_gpu" in {f["code"] for f in host["findings"]}
    human = moefleet("probe", tmp_path=tmp_path)
    assert human.returncode == 0 and "localhost" in human.stdout
    if not facts["gpu"]:
        assert "No NVIDIA GPU" in human.stdout


def test_bad_inventory_is_one_clear_message_and_exit_1(tmp_path):
    inventory = tmp_path / "inv.toml"
    inventory.write_text("[hosts.gpu01]\nport = 'twenty-two'\n")
    result = moefleet("probe", "-i", str(inventory), tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{inventory}: hosts.gpu01.port: expected an integer" in result.stderr
    missing = moefleet("probe", "-i", str(tmp_path / "nope.toml"), tmp_path=tmp_path)
    assert missing.returncode == 1 and "no such inventory file" in missing.stderr
    limit = moefleet("probe", "--limit", "nosuch", tmp_path=tmp_path)
    assert limit.returncode == 1 and "no host or group named 'nosuch'" in limit.stderr
    usage = moefleet("probe", "--forks", "0", tmp_path=tmp_path)
    assert usage.returncode == 1 and "Traceback" not in usage.stderr


def test_import_prints_the_same_facts(tmp_path):
    profile = get_profile("old-gpu")
    xml = tmp_path / "smi.xml"
    xml.write_text(render.nvsmi_xml(profile))
    result = moefleet(
        "probe", "--import", str(xml), "--name", "v100-box", "--json", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (host,) = json.loads(result.stdout)["hosts"]
    assert host["host"] == "v100-box" and host["facts"]["collector"] == "import"
    assert "gpu.ecc_uncorrected" in {f["code"] for f in host["findings"]}
    nothing = moefleet("probe", "--import", tmp_path=tmp_path)
    assert nothing.returncode == 1 and "FILES" in nothing.stderr
