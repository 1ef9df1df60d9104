"""The checklist rules over hand-built facts: each fires when it should and only then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moefleet.facts.model import (
    CpuFacts,
    DiskFacts,
    EccFacts,
    GpuFacts,
    GpuReport,
    HostFacts,
    MemoryFacts,
    NvlinkLink,
    PcieLink,
    SectionProblem,
)
from moefleet.findings import Thresholds, check_host

GIB = 1024**3


def gpu(**changes) -> GpuFacts:
    base = {
        "index": 0,
        "name": "NVIDIA GeForce RTX 4090",
        "compute_capability": "8.9",
        "memory_total_mib": 24564,
        "memory_used_mib": 300,
        "memory_free_mib": 24000,
        "pcie": PcieLink(gen_current=4, gen_max=4, width_current=16, width_max=16),
        "temperature_c": 45.0,
        "utilization_percent": 0.0,
        "power_limit_w": 450.0,
        "power_default_limit_w": 450.0,
        "power_max_limit_w": 600.0,
    }
    return GpuFacts.model_validate({**base, **changes})


def host(*gpus: GpuFacts, ram_gib: float = 125.0, free_gib: float = 900.0, **changes) -> HostFacts:
    return HostFacts.model_validate(
        {
            "host": "h",
            "collected_at": datetime(2026, 1, 1, tzinfo=UTC),
            "collector": "python",
            "cpu": CpuFacts(model="EPYC", architecture="x86_64", threads=32, avx2=True),
            "memory": MemoryFacts(total_bytes=int(ram_gib * GIB)),
            "disks": [
                DiskFacts(
                    path="/srv/models",
                    mount="/srv",
                    free_bytes=int(free_gib * GIB),
                    total_bytes=int(2000 * GIB),
                )
            ],
            "gpu_status": "ok" if gpus else "none",
            "gpu": GpuReport(source="nvidia-smi-xml", gpus=list(gpus)) if gpus else None,
            **changes,
        }
    )


def codes(facts: HostFacts, limits: Thresholds | None = None) -> dict[str, str]:
    found = check_host(facts, limits or Thresholds())
    return {f.code: f.level for f in found}


def test_a_healthy_host_has_no_findings():
    assert codes(host(gpu())) == {}


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (PcieLink(gen_current=4, gen_max=4, width_current=8, width_max=16), "pcie.narrow_link"),
        (PcieLink(gen_current=4, gen_max=4, width_current=8, width_max=8), "pcie.narrow_link"),
        (PcieLink(gen_current=3, gen_max=3, width_current=16, width_max=16), "pcie.old_generation"),
    ],
)
def test_pcie_rules(link, expected):
    assert codes(host(gpu(pcie=link)))[expected] == "warn"


def test_idle_gpu_at_gen1_is_normal_but_a_busy_one_is_downtrained():
    slow = PcieLink(gen_current=1, gen_max=4, width_current=16, width_max=16)
    assert "pcie.downtrained" not in codes(host(gpu(pcie=slow, utilization_percent=0)))
    assert codes(host(gpu(pcie=slow, utilization_percent=95)))["pcie.downtrained"] == "warn"


def test_flash_attention_needs_ampere():
    assert codes(host(gpu(compute_capability="7.5")))["gpu.no_flash_attention"] == "warn"
    assert "gpu.no_flash_attention" not in codes(host(gpu(compute_capability="8.0")))
    assert codes(host(gpu(compute_capability=None)))["gpu.unknown_capability"] == "info"


def test_ram_rule_allows_for_memtotal_below_installed_ram():
    assert "host.low_ram_for_offload" not in codes(host(gpu(), ram_gib=62.7))  # a 64 GB box
    assert codes(host(gpu(), ram_gib=31.2))["host.low_ram_for_offload"] == "warn"
    assert "host.low_ram_for_offload" not in codes(host(ram_gib=31.2))  # no GPU: no offload


def test_thermal_rules():
    hot = gpu(temperature_c=88.0, throttle_reasons=["sw_thermal_slowdown"], fan_percent=100.0)
    found = codes(host(hot))
    assert found["gpu.thermal_throttling"] == "warn" and found["gpu.hot"] == "warn"
    near_slowdown = gpu(temperature_c=80.0, temperature_slowdown_c=84.0)
    assert "gpu.hot" in codes(host(near_slowdown))
    braking = gpu(throttle_reasons=["hw_power_brake_slowdown"])
    assert codes(host(braking))["gpu.hw_slowdown"] == "warn"
    idle = gpu(throttle_reasons=["gpu_idle"])
    assert codes(host(idle)) == {}


def test_power_cap_is_info_only_under_load():
    capped = gpu(throttle_reasons=["sw_power_cap"], utilization_percent=99.0)
    assert codes(host(capped))["gpu.power_capped"] == "info"
    assert "gpu.power_capped" not in codes(host(gpu(throttle_reasons=["sw_power_cap"])))
    lowered = gpu(power_limit_w=250.0, power_default_limit_w=450.0, power_max_limit_w=600.0)
    assert codes(host(lowered))["gpu.power_limited"] == "info"
    stock = gpu(power_limit_w=450.0, power_default_limit_w=450.0, power_max_limit_w=600.0)
    assert "gpu.power_limited" not in codes(host(stock))  # max > default is normal


def test_memory_health_blocks():
    failing = gpu(
        ecc=EccFacts(
            enabled=True,
            volatile_uncorrected=2,
            retired_pages_pending=True,
            remapped_rows_failure=True,
        )
    )
    found = codes(host(failing))
    assert found["gpu.ecc_uncorrected"] == "block"
    assert found["gpu.memory_retirement_pending"] == "block"
    assert found["gpu.row_remap_failure"] == "block"
    worn = gpu(ecc=EccFacts(aggregate_uncorrected=1, retired_pages=40))
    assert codes(host(worn)) == {"gpu.ecc_history": "warn", "gpu.many_retired_pages": "warn"}


def test_driver_states():
    assert codes(host())["host.no_gpu"] == "info"
    assert codes(host(gpu_status="driver-missing"))["gpu.driver_missing"] == "block"
    broken = host(
        gpu_status="timeout", problems=[SectionProblem(section="gpu", message="nvidia-smi hung")]
    )
    found = codes(broken)
    assert found["gpu.driver_unresponsive"] == "block"
    assert "probe.degraded" not in found  # the driver finding already says it
    assert codes(host(gpu_status="unknown")) == {}  # imported files without GPU output


def test_disk_rules():
    assert codes(host(gpu(), free_gib=50))["disk.low"] == "warn"
    assert codes(host(gpu(), free_gib=5))["disk.full"] == "block"


def test_cpu_nvlink_usage_and_degraded():
    facts = host(
        gpu(memory_used_mib=12000, mig_enabled=True),
        cpu=CpuFacts(model="Atom", architecture="x86_64", avx2=False),
        problems=[SectionProblem(section="memory", message="garbled")],
    )
    facts.gpu.nvlinks = [
        NvlinkLink(gpu_index=0, link=0, active=True),
        NvlinkLink(gpu_index=0, link=1, active=False),
    ]
    found = codes(facts)
    assert found["cpu.no_avx2"] == "warn"
    assert found["nvlink.inactive"] == "warn"
    assert found["gpu.vram_in_use"] == "info"
    assert found["gpu.mig_enabled"] == "info"
    assert found["probe.degraded"] == "warn"


def test_findings_are_sorted_most_severe_first_and_thresholds_are_configurable():
    facts = host(gpu(compute_capability="7.0", ecc=EccFacts(volatile_uncorrected=1)), free_gib=50)
    levels = [f.level for f in check_host(facts)]
    assert levels == sorted(levels, key=["block", "warn", "info"].index)
    assert "disk.low" not in codes(facts, Thresholds(low_disk_warn_gib=10))
