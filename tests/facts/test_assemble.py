"""From a collector document to HostFacts: garbage degrades a host, it never crashes the probe."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moefleet.errors import ParseError
from moefleet.facts.assemble import facts_from_document
from moefleet.facts.collect import MARK_BEGIN, MARK_END, collector_command, extract_document
from moefleet.transport.local import LocalTransport
from tests.lab import get_profile, render

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def ok(stdout: str) -> dict:
    return {"rc": 0, "stdout": stdout, "stderr": "", "timed_out": False}


def lab_document(profile_name: str = "rtx4090") -> dict:
    profile = get_profile(profile_name)
    return {
        "collector": "python",
        "hostname": profile.name,
        "kernel": "6.1.0",
        "arch": "x86_64",
        "python": "3.11.2",
        "files": {
            "meminfo": render.meminfo(profile),
            "os-release": 'PRETTY_NAME="Debian 12"\n',
            "pid1": "systemd\n",
        },
        "disks": [
            {
                "path": "/srv/models",
                "mount": "/srv",
                "fstype": "xfs",
                "total": 2 * 1024**4,
                "free": 1024**4,
            }
        ],
        "nvml": {"available": False, "error": "pynvml not importable"},
        "commands": {
            "nvidia-smi-xml": ok(render.nvsmi_xml(profile)),
            "lspci": ok(render.lspci(profile)),
            "lscpu": ok(render.lscpu(profile.cpu)),
            "docker": {"missing": True},
        },
    }


def test_a_complete_document():
    facts = facts_from_document("gpu01", lab_document(), NOW)
    assert not facts.degraded, facts.problems
    assert facts.gpu_status == "ok" and facts.gpus[0].name == "NVIDIA GeForce RTX 4090"
    assert facts.runtimes.systemd_is_init is True and facts.runtimes.docker is None
    assert facts.disks[0].free_bytes == 1024**4 and facts.os.name == "Debian 12"


def test_garbage_sections_degrade_the_host_and_keep_the_rest():
    document = lab_document()
    document["commands"]["lscpu"] = ok("\x00\x01 garbage ###")
    document["files"]["meminfo"] = "MemTotal: lots\n"
    document["disks"] = [{"path": "/srv/models"}]  # malformed record
    facts = facts_from_document("gpu01", document, NOW)
    assert {p.section for p in facts.problems} == {"cpu", "memory", "disk"}
    assert facts.gpus and facts.cpu is None and facts.memory is None


def test_driver_failure_and_hang_statuses():
    document = lab_document()
    document["commands"]["nvidia-smi-xml"] = {
        "rc": 9,
        "stdout": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        "stderr": "",
    }
    failed = facts_from_document("h", document, NOW)
    assert (
        failed.gpu_status == "driver-error" and "couldn't communicate" in failed.problems[0].message
    )
    document["commands"]["nvidia-smi-xml"] = {
        "rc": -9,
        "stdout": "",
        "stderr": "",
        "timed_out": True,
        "seconds": 3.0,
    }
    assert facts_from_document("h", document, NOW).gpu_status == "timeout"
    document["commands"]["nvidia-smi-xml"] = {"missing": True}
    assert facts_from_document("h", document, NOW).gpu_status == "driver-missing"  # lspci


def test_nvml_snapshot_is_preferred():
    document = lab_document()
    document["nvml"] = {
        "available": True,
        "driver_version": "580.65.06",
        "cuda_driver_version": 13000,
        "devices": [
            {
                "index": 0,
                "name": "NVIDIA H100 80GB HBM3",
                "memory_total": 85520809984,
                "memory_used": 0,
                "memory_free": 85520809984,
                "compute_capability": [9, 0],
                "architecture": 9,
                "pcie_gen_current": 5,
                "pcie_gen_max": 5,
                "pcie_width_current": 16,
                "pcie_width_max": 16,
                "temperature": 31,
                "power_mw": 71000,
                "power_limit_mw": 700000,
                "pstate": 0,
                "event_reasons": 0x1 | 0x20,
                "ecc_enabled": 1,
                "ecc_volatile_uncorrected": 0,
                "remapped_rows": [0, 0, 1, 0],
            }
        ],
    }
    facts = facts_from_document("h", document, NOW)
    gpu = facts.gpus[0]
    assert facts.gpu.source == "nvml" and facts.gpu.cuda_version == "13.0"
    assert (gpu.compute_capability, gpu.architecture, gpu.memory_total_mib) == (
        "9.0",
        "Hopper",
        81559,
    )
    assert gpu.throttle_reasons == ["gpu_idle", "sw_thermal_slowdown"]
    assert (gpu.power_draw_w, gpu.pstate, gpu.ecc.remapped_rows_pending) == (71.0, "P0", True)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    section=st.sampled_from(["commands", "files", "disks", "nvml", "hostname"]),
    value=_json_values,
    command=st.sampled_from(["lscpu", "lspci", "nvidia-smi-xml", "llama-server", "sensors"]),
)
def test_fuzzed_documents_never_crash(section, value, command):
    document = lab_document()
    if section == "commands":
        document["commands"][command] = value
    else:
        document[section] = value
    facts = facts_from_document("h", document, NOW)  # problems are data, never exceptions
    assert facts.host == "h"


def test_extract_document_ignores_banners_and_rejects_garbage():
    body = json.dumps({"collector": "python"})
    noisy = f"Welcome to gpu01!\n{MARK_BEGIN}\n{body}\n{MARK_END}\nbye\n"
    assert extract_document(noisy) == {"collector": "python"}
    for bad in (
        "",
        "bash: python3: command not found",
        f"{MARK_BEGIN}\n{{oops\n{MARK_END}",
        f"{MARK_BEGIN}\n[1, 2]\n{MARK_END}",
    ):
        with pytest.raises(ParseError):
            extract_document(bad)


@pytest.mark.parametrize("python", ["python3", "no-such-python"])
def test_collector_runs_here_for_real(python):
    """Both collectors (Python and POSIX sh) on this very machine, through /bin/sh."""
    command = collector_command(python, timeout=10, disks=["/nonexistent/models"])
    result = LocalTransport().run(command, timeout=60)
    document = extract_document(result.stdout)
    assert document["collector"] == ("python" if python == "python3" else "sh")
    facts = facts_from_document("here", document, NOW)
    assert not facts.degraded, facts.problems
    assert facts.memory and facts.memory.total_bytes > 0
    assert facts.disks and facts.disks[0].free_bytes
    assert facts.cpu and facts.cpu.threads


def test_hostile_values_stay_quoted():
    """A models_dir with shell metacharacters reaches the host as data, not code."""
    evil = "/tmp/x'; touch /tmp/moefleet-pwned; echo '$(id)`id`"
    command = collector_command("python3", timeout=10, disks=[evil])
    document = extract_document(LocalTransport().run(command, timeout=60).stdout)
    assert document["disks"][0]["path"] == evil
    assert not Path("/tmp/moefleet-pwned").exists()
