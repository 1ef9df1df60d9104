"""`moefleet probe` against the real-SSH lab: every host reported right, broken hosts named,
exit code 2, facts stored. Each emulated machine answers with its own recorded hardware."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moefleet.inventory import load_inventory
from moefleet.probe import HostProbe, ProbeOptions, gather_facts
from moefleet.state import StateStore
from moefleet.transport import ConnectOptions

GIB = 1024**3
TIMEOUT = 8.0


def codes(probe: HostProbe, level: str | None = None) -> set[str]:
    return {f.code for f in probe.findings if level is None or f.level == level}


@pytest.fixture(scope="module")
def cli_run(lab, tmp_path_factory):
    """One real `moefleet probe --json` over the whole lab (subprocess, not a terminal)."""
    state = tmp_path_factory.mktemp("state") / "state.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "moefleet",
            "--state",
            str(state),
            "probe",
            "-i",
            str(lab.inventory_path),
            "--json",
            "--timeout",
            str(TIMEOUT),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    probes = {h["host"]: HostProbe.model_validate(h) for h in json.loads(result.stdout)["hosts"]}
    return result, probes, state


def test_exit_code_2_and_every_host_reported(cli_run, lab):
    result, probes, _ = cli_run
    assert result.returncode == 2, result.stderr
    assert set(probes) == set(lab.hosts)
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_broken_hosts_are_named_and_the_rest_succeed(cli_run):
    _, probes, _ = cli_run
    assert probes["unreachable"].status == "unreachable"
    assert probes["wrong-hostkey"].status == "host-key-mismatch"
    assert "ssh-keygen -R" in (probes["wrong-hostkey"].hint or "")
    assert probes["auth-fails"].status == "auth-failed"
    broken = {"unreachable", "wrong-hostkey", "auth-fails"}
    assert all(p.reached for name, p in probes.items() if name not in broken)


def test_riser_host(cli_run):
    probe = cli_run[1]["rtx3090-riser"]
    gpu = probe.facts.gpus[0]
    assert (gpu.pcie.width_current, gpu.pcie.width_max) == (8, 16)
    assert {"pcie.narrow_link", "host.low_ram_for_offload"} <= codes(probe, "warn")
    assert probe.facts.memory.total_bytes < 40 * GIB


def test_throttling_host(cli_run):
    probe = cli_run[1]["throttling"]
    assert {"gpu.thermal_throttling", "gpu.hot"} <= codes(probe, "warn")
    assert "sw_thermal_slowdown" in probe.facts.gpus[0].throttle_reasons


def test_cpu_only_host(cli_run):
    probe = cli_run[1]["cpu-only"]
    assert probe.status == "ok"
    assert probe.facts.gpus == [] and probe.facts.gpu_status == "none"
    assert codes(probe) >= {"host.no_gpu"}
    assert not codes(probe, "block")
    assert probe.facts.memory.total_bytes > 200 * GIB


def test_driver_failures_block(cli_run):
    fails, hangs = cli_run[1]["smi-fails"], cli_run[1]["smi-hangs"]
    assert fails.facts.gpu_status == "driver-error"
    assert hangs.facts.gpu_status == "timeout"
    assert "gpu.driver_unresponsive" in codes(fails, "block")
    assert "gpu.driver_unresponsive" in codes(hangs, "block")
    assert hangs.seconds < TIMEOUT


def test_healthy_hosts(cli_run):
    probes = cli_run[1]
    rtx4090 = probes["rtx4090"]
    assert not codes(rtx4090, "warn") and not codes(rtx4090, "block"), rtx4090.findings
    gpu = rtx4090.facts.gpus[0]
    assert gpu.name == "NVIDIA GeForce RTX 4090" and gpu.compute_capability == "8.9"
    assert (gpu.pcie.gen_max, gpu.pcie.width_current) == (4, 16)
    assert rtx4090.facts.runtimes.llama_server.version
    h100 = probes["h100x8"].facts
    assert len(h100.gpus) == 8 and {g.pcie.gen_max for g in h100.gpus} == {5}
    assert h100.cpu.amx is True
    assert [round(g.memory_total_mib / 1024) for g in probes["a6000x2"].facts.gpus] == [48, 48]
    assert round(probes["rtx4080s"].facts.gpus[0].memory_total_mib / 1024) == 16


def test_old_gpu_findings(cli_run):
    probe = cli_run[1]["old-gpu"]
    assert {"gpu.no_flash_attention", "pcie.old_generation"} <= codes(probe, "warn")
    assert {"gpu.ecc_uncorrected", "gpu.memory_retirement_pending"} <= codes(probe, "block")


def test_facts_are_saved_in_the_state_store(cli_run, lab):
    _, probes, state = cli_run
    with StateStore(state) as store:
        saved = store.latest_probes()
    assert set(saved) == set(lab.hosts)
    assert saved["rtx4090"].facts.gpus[0].name == probes["rtx4090"].facts.gpus[0].name


def test_human_output_and_limit(lab, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "moefleet",
            "--state",
            str(tmp_path / "s.db"),
            "probe",
            "-i",
            str(lab.inventory_path),
            "--limit",
            "consumer,!throttling",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rtx3090-riser" in result.stdout and "throttling" not in result.stdout
    assert "pcie.narrow_link" in result.stdout
    assert "host(s): 3 reached" in result.stdout


def _options(known_hosts: Path, accept_new: bool = False) -> ProbeOptions:
    return ProbeOptions(
        connect=ConnectOptions(
            known_hosts=known_hosts,
            accept_new_host_keys=accept_new,
            allow_agent=False,
            look_for_keys=False,
            connect_timeout=5,
        ),
        timeout=TIMEOUT,
    )


def test_unknown_host_keys_are_refused_unless_accepted(lab, tmp_path):
    inventory = load_inventory(lab.inventory_path)
    hosts = [inventory.hosts["rtx4090"], inventory.hosts["cpu-only"]]
    known = tmp_path / "known_hosts"
    refused = gather_facts(hosts, _options(known))
    assert {p.status for p in refused} == {"host-key-unknown"}
    assert not known.exists()
    accepted = gather_facts(hosts, _options(known, accept_new=True))
    assert {p.status for p in accepted} == {"ok"}
    assert len(known.read_text().splitlines()) == 2
    again = gather_facts(hosts, _options(known))  # now known: strict checking passes
    assert {p.status for p in again} == {"ok"}


def test_sh_collector_and_proxy_jump(lab, tmp_path):
    """A host without Python gets the POSIX sh collector; a host behind a bastion is reached
    through it (ProxyJump), with host keys checked on both hops."""
    extra = (
        '\n[hosts.no-python]\naddress = "127.0.0.1"\nport = {port}\npython = "no-such-python"\n'
        '\n[hosts.behind-bastion]\naddress = "127.0.0.1"\nport = {port2}\n'
        'proxy_jump = "cpu-only"\n'
    ).format(port=lab.hosts["a6000x2"].port, port2=lab.hosts["rtx4080s"].port)
    path = tmp_path / "inventory.toml"
    path.write_text(lab.inventory_path.read_text() + extra)
    inventory = load_inventory(path)
    probes = gather_facts(
        [inventory.hosts["no-python"], inventory.hosts["behind-bastion"]],
        _options(lab.known_hosts_path),
    )
    sh, jumped = probes
    assert sh.status == "ok", sh
    assert sh.facts.collector == "sh"
    assert [g.name for g in sh.facts.gpus] == ["NVIDIA RTX A6000"] * 2
    assert sh.facts.memory.total_bytes > 100 * GIB and sh.facts.disks
    assert jumped.status == "ok", jumped
    assert jumped.facts.gpus[0].name == "NVIDIA GeForce RTX 4080 SUPER"
