"""Acceptance: real outputs captured on real machines parse into the right values.

The files live outside the project (licence: they are read here, never copied); every test
skips when the collection is absent (``$MOEFLEET_REAL_OUTPUTS`` or ../shared/real-outputs).
"""

from __future__ import annotations

import pytest

from moefleet.errors import ParseError
from moefleet.facts.cpu import lscpu_fields, parse_lscpu
from moefleet.facts.memory import parse_meminfo
from moefleet.facts.model import CpuFacts, GpuReport, MemoryFacts, PcieLink
from moefleet.facts.pcie import parse_lspci
from moefleet.facts.rocm import parse_rocm_smi
from moefleet.facts.sensors import parse_sensors
from tests.facts.system_helpers import assert_parses_or_raises_parse_error, real_output

KIB = 1024


def test_lspci_4x_rtx_a6000_idle_link_downgraded_to_gen1():
    devices = parse_lspci(real_output("lspci_vv__4x-rtx-a6000__downgraded-2.5GT.txt"))
    assert [d.bus_id for d in devices] == [
        "0000:01:00.0", "0000:41:00.0", "0000:81:00.0", "0000:c1:00.0",
    ]  # fmt: skip
    for device in devices:
        assert device.description == "NVIDIA Corporation GA102GL [RTX A6000]"
        assert (device.vendor_id, device.vendor) == ("10de", "NVIDIA Corporation")
        assert device.link == PcieLink(gen_current=1, gen_max=4, width_current=16, width_max=16)
        assert device.link_readable and device.is_nvidia


def test_lspci_8x_h100_nvswitch_only_the_gpus():
    devices = parse_lspci(real_output("lspci_vvv__8x-h100-sxm5-nvswitch__full.txt"))
    assert [d.bus_id for d in devices] == [
        f"0000:{bus}:00.0" for bus in ("19", "3b", "4c", "5d", "9b", "bb", "cb", "db")
    ]
    for device in devices:
        assert (device.vendor_id, device.device_id) == ("10de", "2330")
        assert device.link == PcieLink(gen_current=5, gen_max=5, width_current=16, width_max=16)


LSCPU = {
    "lscpu__linuxhw__EPYC-7742-64-Core__4D9ABAAE4C.txt": dict(
        model="AMD EPYC 7742 64-Core Processor", vendor="AuthenticAMD", architecture="x86_64",
        sockets=2, cores=128, threads=128, numa_nodes=2, max_mhz=2250.0,
        avx2=True, avx512=False, amx=False,
    ),
    "lscpu__linuxhw__Xeon-Gold-6230R__E4BE3F2344.txt": dict(
        model="Intel(R) Xeon(R) Gold 6230R CPU @ 2.10GHz", vendor="GenuineIntel",
        architecture="x86_64", sockets=2, cores=52, threads=104, numa_nodes=2, max_mhz=4000.0,
        avx2=True, avx512=True, amx=False,
    ),
    # a Xen guest: lscpu itself says 1 socket x 1 core x 112 threads
    "lscpu__linuxhw__Xeon-Platinum-8280__B3866D77A7.txt": dict(
        model="Intel(R) Xeon(R) Platinum 8280 CPU @ 2.70GHz", vendor="GenuineIntel",
        architecture="x86_64", sockets=1, cores=1, threads=112, numa_nodes=1, max_mhz=None,
        avx2=True, avx512=True, amx=False,
    ),
    "lscpu__rhel9-kvm-hierarchical-wrapped.txt": dict(
        model="Intel Core Processor (Haswell, no TSX, IBRS)", vendor="GenuineIntel",
        architecture="x86_64", sockets=2, cores=2, threads=2, numa_nodes=1, max_mhz=None,
        avx2=True, avx512=False, amx=False,
    ),
    # rendered with --sysroot from a dump: no Architecture line
    "lscpu__x86_64-64cpu-linux6.2.txt": dict(
        model="11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", vendor="GenuineIntel",
        architecture=None, sockets=1, cores=4, threads=8, numa_nodes=1, max_mhz=4700.0,
        avx2=True, avx512=True, amx=False,
    ),
    "lscpu__x86_64-epyc_7451.txt": dict(
        model="AMD EPYC 7451 24-Core Processor", vendor="AuthenticAMD", architecture=None,
        sockets=2, cores=48, threads=96, numa_nodes=8, max_mhz=2300.0,
        avx2=True, avx512=False, amx=False,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LSCPU))
def test_lscpu(name):
    cpu = parse_lscpu(real_output(name))
    expected = LSCPU[name]
    assert cpu.model_dump(include=set(expected)) == expected


def test_lscpu_avx512_feature_list_of_the_gold_6230r():
    cpu = parse_lscpu(real_output("lscpu__linuxhw__Xeon-Gold-6230R__E4BE3F2344.txt"))
    assert cpu.features == [
        "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    ]  # fmt: skip


def test_lscpu_flags_wrapped_mid_word_are_joined():
    fields = lscpu_fields(real_output("lscpu__rhel9-kvm-hierarchical-wrapped.txt"))
    flags = fields["Flags"].split()
    assert {"constant_tsc", "tsc_deadline_timer", "vnmi", "arch_capabilities"} <= set(flags)
    assert "co" not in flags and "nstant_tsc" not in flags


def test_meminfo_without_memavailable():
    memory = parse_meminfo(
        real_output("proc_meminfo__node-exporter-fixture__3.6GB-no-MemAvailable.txt")
    )
    assert memory == MemoryFacts(
        total_bytes=3742148 * KIB,
        available_bytes=(225472 + 22040 + 930888 + 44772) * KIB,
        available_estimated=True,
        swap_total_bytes=4194300 * KIB,
        swap_free_bytes=3155360 * KIB,
    )


def test_meminfo_rhel7():
    memory = parse_meminfo(real_output("proc_meminfo__rhel7.1__8GB.txt"))
    assert memory == MemoryFacts(
        total_bytes=8009912 * KIB,
        available_bytes=6820236 * KIB,
        swap_total_bytes=3145724 * KIB,
        swap_free_bytes=3136352 * KIB,
    )


def test_sensors_epyc_k10temp_nvme_bnxt():
    readings = parse_sensors(
        real_output("sensors__linuxhw__asrockrack-romed8-2t__epyc-k10temp-nvme__0A0E30BA0A.txt")
    )
    assert len(readings) == 10
    assert {r.kind for r in readings} == {"temperature"}
    assert {r.unit for r in readings} == {"C"}
    by_key = {(r.chip, r.label): r for r in readings}
    assert by_key[("k10temp-pci-00c3", "Tctl")].value == 40.4
    composite = by_key[("nvme-pci-4100", "Composite")]
    assert (composite.value, composite.high, composite.critical) == (29.9, 74.8, 79.8)
    assert by_key[("bnxt_en-pci-4201", "temp1")].value == 61.0


def test_sensors_dual_xeon_coretemp():
    readings = parse_sensors(
        real_output("sensors__linuxhw__asus-esc8000-g4__2x-xeon-gold-6230R__E4BE3F2344.txt")
    )
    assert len(readings) == 54
    assert {r.chip for r in readings} == {"coretemp-isa-0000", "coretemp-isa-0001"}
    assert all((r.unit, r.high, r.critical) == ("C", 87.0, 97.0) for r in readings)
    packages = {r.label: r.value for r in readings if r.label.startswith("Package")}
    assert packages == {"Package id 0": 34.0, "Package id 1": 33.0}


def test_rocm_smi_concise_4x_mi300x():
    report = parse_rocm_smi(real_output("rocmsmi_concise__4x-mi300x.txt"))
    assert [gpu.name for gpu in report.gpus] == ["AMD Instinct MI300X"] * 4
    assert [gpu.index for gpu in report.gpus] == [0, 1, 2, 3]
    assert {gpu.vendor for gpu in report.gpus} == {"amd"}
    assert [gpu.temperature_c for gpu in report.gpus] == [35.0, 37.0, 34.0, 38.0]
    assert [gpu.power_draw_w for gpu in report.gpus] == [133.0, 131.0, 131.0, 137.0]
    assert {gpu.power_limit_w for gpu in report.gpus} == {750.0}
    assert {gpu.utilization_percent for gpu in report.gpus} == {0.0}


def test_rocm_smi_all_info_4x_mi300x():
    report = parse_rocm_smi(real_output("rocmsmi_a__4x-mi300x.txt"))
    assert report.driver_version == "6.7.0"
    assert [gpu.name for gpu in report.gpus] == ["AMD Instinct MI300X OAM"] * 4
    assert [gpu.temperature_c for gpu in report.gpus] == [35.0, 37.0, 34.0, 39.0]
    assert [gpu.memory_temperature_c for gpu in report.gpus] == [33.0, 34.0, 32.0, 36.0]
    assert [gpu.power_draw_w for gpu in report.gpus] == [133.0, 130.0, 131.0, 136.0]
    assert {gpu.power_limit_w for gpu in report.gpus} == {750.0}
    assert [gpu.bus_id for gpu in report.gpus] == [
        "0000:26:00.0", "0000:46:00.0", "0000:65:00.0", "0000:85:00.0",
    ]  # fmt: skip
    assert report.gpus[0].uuid == "0x8d1457e2c20f59d2"
    assert {gpu.fan_percent for gpu in report.gpus} == {None}  # "Not supported" on this VF
    assert {gpu.memory_total_mib for gpu in report.gpus} == {None}  # -a here has no VRAM totals


@pytest.mark.parametrize(
    ("name", "parser", "expected"),
    [
        ("lspci_vv__4x-rtx-a6000__downgraded-2.5GT.txt", parse_lspci, list),
        ("lscpu__rhel9-kvm-hierarchical-wrapped.txt", parse_lscpu, CpuFacts),
        ("proc_meminfo__rhel7.1__8GB.txt", parse_meminfo, MemoryFacts),
        ("sensors__linuxhw__asrockrack-romed8-2t__epyc-k10temp-nvme__0A0E30BA0A.txt",
         parse_sensors, list),
        ("rocmsmi_concise__4x-mi300x.txt", parse_rocm_smi, GpuReport),
        ("rocmsmi_a__4x-mi300x.txt", parse_rocm_smi, GpuReport),
    ],
)  # fmt: skip
def test_fuzz_from_real_outputs(name, parser, expected):
    assert_parses_or_raises_parse_error(parser, real_output(name), expected)


def test_real_outputs_are_not_mistaken_for_other_formats():
    with pytest.raises(ParseError):
        parse_lscpu(real_output("proc_meminfo__rhel7.1__8GB.txt"))
    with pytest.raises(ParseError):
        parse_meminfo(real_output("lscpu__x86_64-epyc_7451.txt"))
