"""Tests of the lab itself: real sshds answer, each host shows its own emulated hardware, and the
broken hosts fail the way real broken hosts do. Logins go through OpenSSH's ``ssh`` client (and
paramiko, the library moefleet uses) with strict host-key checking."""

from __future__ import annotations

import socket
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from moefleet.inventory import load_inventory
from tests.lab import DEFAULT_PROFILES, PROFILES, HostProfile, Lab, synthetic_profile
from tests.lab.fleet import LOOPBACK, kill_marked
from tests.lab.render import lspci, nvsmi_table, nvsmi_xml, query_csv
from tests.lab.render_query import UNITS, QueryError

SMI_HOSTS = [n for n in DEFAULT_PROFILES if PROFILES[n].smi == "ok" and PROFILES[n].gpus]


def _ok(lab: Lab, host: str, command: str) -> str:
    result = lab.run(host, command)
    assert result.returncode == 0, f"{host}: {command}: {result.stderr}"
    return result.stdout


def _need_emulation(lab: Lab) -> None:
    if not lab.emulates_system:
        pytest.skip("lab runs without namespaces (not root): hostname/RAM/disk are this machine's")


# --- every host is a real sshd ---------------------------------------------------------------


@pytest.mark.lab
def test_every_live_host_sends_an_ssh_banner(lab: Lab) -> None:
    for host in lab.hosts.values():
        if host.fault == "unreachable":
            continue
        with socket.create_connection((LOOPBACK, host.port), timeout=5) as sock:
            assert sock.recv(64).startswith(b"SSH-2.0-OpenSSH"), host.name


@pytest.mark.lab
def test_inventory_lists_every_host_with_groups(lab: Lab) -> None:
    inventory = load_inventory(lab.inventory_path)
    assert set(inventory.hosts) == set(lab.hosts)
    assert inventory.hosts["rtx4090"].port == lab.hosts["rtx4090"].port
    assert inventory.hosts["rtx4090"].vars["models_dir"] == lab.models_dir
    assert set(inventory.groups["broken"]) == {"unreachable", "wrong-hostkey", "auth-fails"}
    assert set(inventory.groups["faulty"]) == {"smi-fails", "smi-hangs"}
    assert "h100x8" in inventory.groups["gpu"] and "cpu-only" not in inventory.groups["gpu"]
    assert all(h.address == "127.0.0.1" for h in inventory.hosts.values())


@pytest.mark.lab
@pytest.mark.parametrize("name", SMI_HOSTS)
def test_nvidia_smi_xml_over_ssh_is_the_hosts_own(lab: Lab, name: str) -> None:
    profile = PROFILES[name]
    root = ET.fromstring(_ok(lab, name, "nvidia-smi -q -x"))
    assert root.findtext("driver_version") == profile.driver_version
    assert root.findtext("attached_gpus") == str(len(profile.gpus))
    gpus = root.findall("gpu")
    assert [g.findtext("uuid") for g in gpus] == [gpu.uuid for gpu in profile.gpus]
    for element, gpu in zip(gpus, profile.gpus, strict=True):
        assert element.findtext("product_name") == gpu.model.product_name
        assert element.get("id") == gpu.bus_id
        link = element.find("pci/pci_gpu_link_info")
        assert link is not None
        assert link.findtext("link_widths/current_link_width") == f"{gpu.pcie_width}x"
        assert link.findtext("pcie_gen/current_link_gen") == str(gpu.pcie_gen)


@pytest.mark.lab
def test_riser_host_reports_x8_of_x16(lab: Lab) -> None:
    xml = ET.fromstring(_ok(lab, "rtx3090-riser", "nvidia-smi -q -x"))
    widths = xml.find("gpu/pci/pci_gpu_link_info/link_widths")
    assert widths is not None
    assert (widths.findtext("max_link_width"), widths.findtext("current_link_width")) == (
        "16x",
        "8x",
    )
    assert "Width x8 (downgraded)" in _ok(lab, "rtx3090-riser", "lspci -vvnn -D")


@pytest.mark.lab
def test_throttling_host_reports_active_thermal_reasons(lab: Lab) -> None:
    gpu = ET.fromstring(_ok(lab, "throttling", "nvidia-smi -q -x")).find("gpu")
    assert gpu is not None
    reasons = gpu.find("clocks_event_reasons")
    assert reasons is not None
    active = {e.tag.rsplit("reason_", 1)[1] for e in reasons if e.text == "Active"}
    assert active == {"sw_thermal_slowdown", "hw_thermal_slowdown"}
    assert gpu.findtext("temperature/gpu_temp") == "88 C"
    assert gpu.findtext("fan_speed") == "100 %"
    assert gpu.findtext("performance_state") == "P2"


@pytest.mark.lab
def test_old_gpu_uses_old_driver_formats_and_has_ecc_errors(lab: Lab) -> None:
    xml = ET.fromstring(_ok(lab, "old-gpu", "nvidia-smi -q -x"))
    gpu = xml.findall("gpu")[2]
    assert gpu.find("clocks_throttle_reasons") is not None
    assert gpu.findtext("ecc_errors/volatile/double_bit/total") == "2"
    assert gpu.findtext("retired_pages/pending_retirement") == "Yes"
    assert gpu.findtext("retired_pages/double_bit_retirement/retired_count") == "2"
    assert "Tesla V100-SXM2..." in _ok(lab, "old-gpu", "nvidia-smi")


@pytest.mark.lab
def test_query_gpu_csv_over_ssh(lab: Lab) -> None:
    out = _ok(lab, "h100x8", "nvidia-smi --query-gpu=index,name,memory.total --format=csv")
    lines = out.splitlines()
    assert lines[0] == "index, name, memory.total [MiB]"
    assert lines[1] == "0, NVIDIA H100 80GB HBM3, 81559 MiB" and len(lines) == 9
    bare = _ok(lab, "h100x8", "nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits")
    assert bare.splitlines() == ["81559"] * 8
    bad = lab.run("h100x8", "nvidia-smi --query-gpu=name,bogus --format=csv")
    assert bad.returncode != 0
    assert 'Field "bogus" is not a valid field to query.' in bad.stdout


@pytest.mark.lab
def test_default_table_and_list(lab: Lab) -> None:
    table = _ok(lab, "a6000x2", "nvidia-smi")
    assert table.count("NVIDIA RTX A6000") == 2 and "Driver Version: 550.90.07" in table
    listing = _ok(lab, "a6000x2", "nvidia-smi -L").splitlines()
    assert listing[1].startswith("GPU 1: NVIDIA RTX A6000 (UUID: GPU-")
    assert _ok(lab, "h100x8", "nvidia-smi nvlink -s").count("Link 17: 26.562 GB/s") == 8
    assert _ok(lab, "rtx4090", "nvidia-smi nvlink -s") == ""


@pytest.mark.lab
def test_llama_server_version_goes_to_stderr(lab: Lab) -> None:
    result = lab.run("rtx4090", "llama-server --version")
    assert result.returncode == 0 and result.stdout == ""
    assert "Device 0: NVIDIA GeForce RTX 4090, compute capability 8.9" in result.stderr
    assert "version: 6123 (4227c9be)" in result.stderr
    assert lab.run("h100x8", "command -v llama-server").returncode != 0


# --- the emulated machine: hostname, RAM, CPU, disk ------------------------------------------


@pytest.mark.lab
@pytest.mark.parametrize("name", DEFAULT_PROFILES)
def test_hostname_ram_and_models_disk_are_the_profiles(lab: Lab, name: str) -> None:
    _need_emulation(lab)
    profile = PROFILES[name]
    out = _ok(
        lab,
        name,
        "hostname; grep MemTotal /proc/meminfo; "
        f"df -B1 --output=size,avail {lab.models_dir} | tail -1",
    ).splitlines()
    assert out[0] == name
    assert out[1].split()[1] == str(profile.mem_total_kib)
    size, avail = (int(x) for x in out[2].split())
    assert size == profile.disk_bytes and avail == profile.disk_bytes


@pytest.mark.lab
def test_cpu_is_the_profiles(lab: Lab) -> None:
    _need_emulation(lab)
    cpu = PROFILES["h100x8"].cpu
    assert _ok(lab, "h100x8", "grep -c ^processor /proc/cpuinfo").strip() == str(cpu.threads)
    lscpu = _ok(lab, "h100x8", "lscpu")
    assert f"Model name:                         {cpu.model_name}" in lscpu
    assert "amx_tile" in lscpu and "avx512f" in lscpu
    assert "avx512f" not in _ok(lab, "rtx3090-riser", "lscpu")


@pytest.mark.lab
def test_models_dir_is_writable_and_visible_from_outside(lab: Lab) -> None:
    _need_emulation(lab)
    _ok(lab, "a6000x2", f"echo weights > {lab.models_dir}/probe.gguf")
    inside = lab.hosts["a6000x2"].path_in_host(f"{lab.models_dir}/probe.gguf")
    assert inside.read_text() == "weights\n"
    assert lab.run("rtx4090", f"test -e {lab.models_dir}/probe.gguf").returncode == 1


@pytest.mark.lab
def test_login_shells_find_the_fake_tools(lab: Lab) -> None:
    _need_emulation(lab)
    assert _ok(lab, "rtx4090", "bash -lc 'command -v nvidia-smi'").strip() == (
        "/usr/local/bin/nvidia-smi"
    )


# --- faulty and broken hosts -----------------------------------------------------------------


@pytest.mark.lab
def test_cpu_only_host_has_no_nvidia_gpu(lab: Lab) -> None:
    assert lab.run("cpu-only", "command -v nvidia-smi").returncode != 0
    devices = _ok(lab, "cpu-only", "lspci -vvnn -D")
    assert "ASPEED Graphics Family [1a03:2000]" in devices and "[10de:" not in devices


@pytest.mark.lab
def test_smi_fails_like_a_missing_driver(lab: Lab) -> None:
    result = lab.run("smi-fails", "nvidia-smi -q -x")
    assert result.returncode == 9
    assert result.stdout.startswith("NVIDIA-SMI has failed because it couldn't communicate")
    assert "[10de:2204]" in _ok(lab, "smi-fails", "lspci -d 10de: -vvnn -D")


@pytest.mark.lab
def test_smi_hangs_until_the_caller_times_out(lab: Lab) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        lab.run("smi-hangs", "nvidia-smi -q -x", timeout=1.5)


@pytest.mark.lab
def test_wrong_hostkey_fails_strict_checking(lab: Lab) -> None:
    result = lab.run("wrong-hostkey", "true")
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr or (
        "Host key verification failed" in result.stderr
    )


@pytest.mark.lab
def test_auth_fails_rejects_the_lab_key(lab: Lab) -> None:
    result = lab.run("auth-fails", "true")
    assert result.returncode == 255 and "Permission denied (publickey)" in result.stderr


@pytest.mark.lab
def test_unreachable_refuses_connections(lab: Lab) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LOOPBACK, lab.hosts["unreachable"].port), timeout=2).close()


def _paramiko(lab: Lab, name: str) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        LOOPBACK,
        port=lab.hosts[name].port,
        username=lab.user,
        key_filename=str(lab.client_key_path),
        allow_agent=False,
        look_for_keys=False,
        timeout=5,
    )
    return client


@pytest.mark.lab
def test_paramiko_reads_the_known_hosts_and_sftp_works(lab: Lab, tmp_path: Path) -> None:
    with _paramiko(lab, "rtx4080s") as client:
        _, stdout, _ = client.exec_command("nvidia-smi -L")
        assert stdout.read().decode().startswith("GPU 0: NVIDIA GeForce RTX 4080 SUPER")
        source = tmp_path / "unit.service"
        source.write_text("[Unit]\n")
        with client.open_sftp() as sftp:
            sftp.put(str(source), f"{lab.models_dir}/unit.service")
            assert "unit.service" in sftp.listdir(lab.models_dir)
    with pytest.raises(paramiko.BadHostKeyException):
        _paramiko(lab, "wrong-hostkey")


# --- lifecycle -------------------------------------------------------------------------------


@pytest.mark.lab
def test_stop_kills_sessions_too(make_lab: Callable[..., Lab]) -> None:
    small = make_lab(["smi-hangs", synthetic_profile(3)])
    assert small.hosts["synth-003"].profile is not None
    with pytest.raises(subprocess.TimeoutExpired):
        small.run("smi-hangs", "nvidia-smi", timeout=1.0)
    small.stop()
    assert kill_marked(small.workdir) == 0
    assert all(h.process is not None and h.process.poll() is not None for h in small.hosts.values())


# --- renderers (pure) ------------------------------------------------------------------------

ALL_PROFILES = [*PROFILES.values(), *(synthetic_profile(i) for i in range(7))]


@pytest.mark.parametrize("profile", ALL_PROFILES, ids=lambda p: p.name)
def test_renderers_are_well_formed(profile: HostProfile) -> None:
    if profile.gpus:
        ET.fromstring(nvsmi_xml(profile))
        widths = {len(line) for line in nvsmi_table(profile).splitlines()[1:] if line.strip()}
        assert widths == {91 if profile.driver_major >= 530 else 79}
    text = lspci(profile)
    assert text.count("[10de:") >= len(profile.gpus)


def test_every_unit_field_is_queryable_on_a_modern_driver() -> None:
    fields = [f for f in UNITS if f != "used_gpu_memory"]
    header = query_csv(PROFILES["rtx4090"], [f"--query-gpu={','.join(fields)}", "--format=csv"])
    assert "[N/A]" not in header.splitlines()[1]
    with pytest.raises(QueryError):
        query_csv(PROFILES["old-gpu"], ["--query-gpu=compute_cap", "--format=csv"])


def test_synthetic_profiles_are_distinct() -> None:
    names = {synthetic_profile(i).name for i in range(100)}
    assert len(names) == 100
