"""Acceptance: every real nvidia-smi capture in the shared real-outputs directory parses right.

The captures are read in place through the ``nvsmi_real`` fixture (skipped when the directory is
absent); the expected values below were read from each file by hand. ``pcie`` is
(gen current, gen max, width current, width max).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from moefleet.facts.model import GpuFacts, GpuReport
from moefleet.facts.nvsmi_csv import parse_compute_apps_csv, parse_nvsmi_csv
from moefleet.facts.nvsmi_table import parse_nvlink_status, parse_nvsmi_list, parse_nvsmi_table
from moefleet.facts.nvsmi_text import parse_nvsmi_q
from moefleet.facts.nvsmi_xml import parse_nvsmi_xml
from tests.real_outputs import REAL_OUTPUTS

Read = Callable[[str], str]
REAL = REAL_OUTPUTS

XML: dict[str, dict[str, Any]] = {
    "nvsmi_xml__netdata__a100-sxm4-mig.xml": dict(
        count=1, name="NVIDIA A100-SXM4-40GB", memory=40960, pcie=(4, 4, 16, 16),
        driver="510.47.03", cuda="11.6", reasons=[], arch="Ampere", cc="8.0",
    ),
    "nvsmi_xml__netdata__rtx-2080-win.xml": dict(
        count=1, name="NVIDIA GeForce RTX 2080", memory=8192, pcie=(3, 3, 8, 16),
        driver="516.59", cuda="11.7", reasons=["gpu_idle"], arch="Turing", cc="7.5",
    ),
    "nvsmi_xml__netdata__rtx-4090-driver-535.xml": dict(
        count=1, name="NVIDIA GeForce RTX 4090", memory=24564, pcie=(1, 3, 16, 16),
        driver="535.86.05", cuda="12.2", reasons=["gpu_idle"], arch="Ada Lovelace", cc="8.9",
    ),
    "nvsmi_xml__telegraf__a100-sxm4-v12.xml": dict(
        count=1, name="NVIDIA A100-SXM4-80GB", memory=81920, pcie=(4, 4, 16, 16),
        driver="535.54.03", cuda="12.2", reasons=[], arch="Ampere", cc="8.0",
    ),
    "nvsmi_xml__telegraf__a10g.xml": dict(
        count=1, name="NVIDIA A10G", memory=23028, pcie=(1, 4, 8, 16),
        driver="515.105.01", cuda="11.7", reasons=["gpu_idle"], arch="Ampere", cc="8.6",
    ),
    "nvsmi_xml__telegraf__gtx-1660-ti.xml": dict(
        count=1, name="Graphics Device", memory=5912, pcie=(1, 3, 16, 16),
        driver="418.43", cuda="10.1", reasons=["gpu_idle"], arch=None, cc=None,
    ),
    "nvsmi_xml__telegraf__quadro-p2000-v12.xml": dict(
        count=1, name="Quadro P2000", memory=5120, pcie=(1, 3, 8, 16),
        driver="525.125.06", cuda="12.0", reasons=["gpu_idle"], arch="Pascal", cc="6.1",
    ),
    "nvsmi_xml__telegraf__rtx-3090-v12.xml": dict(
        count=1, name="NVIDIA GeForce RTX 3090", memory=24576, pcie=(1, 4, 16, 16),
        driver="525.147.05", cuda="12.0", reasons=["gpu_idle"], arch="Ampere", cc="8.6",
    ),
    "nvsmi_xml__telegraf__rtx-4000-sff-ada-v13.xml": dict(
        count=1, name="NVIDIA RTX 4000 SFF Ada Generation", memory=20475, pcie=(1, 4, 16, 16),
        driver="595.84", cuda="13.2", reasons=["gpu_idle"], arch="Ada Lovelace", cc="8.9",
    ),
    "nvsmi_xml__telegraf__tesla-t4.xml": dict(
        count=1, name="Tesla T4", memory=15360, pcie=(3, 3, 8, 16),
        driver="515.105.01", cuda="11.7", reasons=[], arch="Turing", cc="7.5",
    ),
}  # fmt: skip

Q: dict[str, dict[str, Any]] = {
    "nvsmi_q__2x-rtx3090__560.35.03.txt": dict(
        count=2, name="NVIDIA GeForce RTX 3090", memory=24576, pcie=(1, 4, 16, 16),
        driver="560.35.03", cuda="12.6", reasons=["gpu_idle"], arch="Ampere", cc="8.6",
    ),
    "nvsmi_q__8x-a100-sxm4-40gb__460.32.03.txt": dict(
        count=8, name="A100-SXM4-40GB", memory=40536, pcie=(4, 4, 16, 16),
        driver="460.32.03", cuda="11.2", reasons=["gpu_idle"], arch="Ampere", cc="8.0",
    ),
    "nvsmi_q__8x-h100-sxm5-80gb__565.57.01.txt": dict(
        count=8, name="NVIDIA H100 80GB HBM3", memory=81559, pcie=(5, 5, 16, 16),
        driver="565.57.01", cuda="12.7", reasons=["gpu_idle"], arch="Hopper", cc="9.0",
    ),
    "nvsmi_q__h100-mig__590.48.01__load.txt": dict(
        count=1, name="NVIDIA H100 80GB HBM3", memory=81559, pcie=(5, 5, 16, 16),
        driver="590.48.01", cuda="13.1", reasons=[], arch="Hopper", cc="9.0",
    ),
    "nvsmi_q__h200__590.48.01__idle.txt": dict(
        count=1, name="NVIDIA H200", memory=143771, pcie=(5, 5, 16, 16),
        driver="590.48.01", cuda="13.1", reasons=["gpu_idle"], arch="Hopper", cc="9.0",
    ),
    "nvsmi_q__rtx2080super__610.57.04__idle.txt": dict(
        count=1, name="NVIDIA GeForce RTX 2080 SUPER", memory=8192, pcie=(1, 3, 16, 16),
        driver="610.57.04", cuda="13.3", reasons=["gpu_idle"], arch="Turing", cc="7.5",
    ),
}  # fmt: skip

CSV: dict[str, dict[str, Any]] = {
    "nvsmi_csv__tesla-p100__510.47.03.csv": dict(
        count=1, name="Tesla P100-PCIE-16GB", memory=None, pcie=(None, None, None, None),
        driver=None, cuda=None, reasons=[], arch="Pascal", cc="6.0",
    ),
    "nvsmi_csv__h100-80gb-hbm3__590.48.01__idle__allfields.csv": dict(
        count=1, name="NVIDIA H100 80GB HBM3", memory=81559, pcie=(5, 5, 16, 16),
        driver="590.48.01", cuda=None, reasons=["gpu_idle"], arch="Hopper", cc="9.0",
    ),
    "nvsmi_csv__rtx4080super__595.71.05__idle__allfields.csv": dict(
        count=1, name="NVIDIA GeForce RTX 4080 SUPER", memory=16376, pcie=(1, 4, 16, 16),
        driver="595.71.05", cuda=None, reasons=["gpu_idle"], arch="Ada Lovelace", cc="8.9",
    ),
    "nvsmi_csv__windows-rtx2080super__610.62__idle__allfields.csv": dict(
        count=1, name="NVIDIA GeForce RTX 2080 SUPER", memory=8192, pcie=(3, 3, 16, 16),
        driver="610.62", cuda=None, reasons=["gpu_idle"], arch="Turing", cc="7.5",
    ),
}  # fmt: skip

_NONE = (None, None, None, None)
TABLE: dict[str, dict[str, Any]] = {
    "nvsmi_default__2x-rtx3090__560.35.03.txt": dict(
        count=2, name="NVIDIA GeForce RTX 3090", memory=24576, pcie=_NONE,
        driver="560.35.03", cuda="12.6", reasons=[], arch="Ampere", cc="8.6",
    ),
    "nvsmi_default__4x-a100-sxm4__555.42.02.txt": dict(
        count=4, name="NVIDIA A100-SXM4-80GB", memory=81920, pcie=_NONE,
        driver="555.42.02", cuda="12.5", reasons=[], arch="Ampere", cc="8.0",
    ),
    "nvsmi_default__4x-rtx-a6000__510.73.05.txt": dict(
        count=4, name="NVIDIA RTX A6000", memory=49140, pcie=_NONE,
        driver="510.73.05", cuda="11.6", reasons=[], arch="Ampere", cc="8.6",
    ),
    "nvsmi_default__8x-a100-sxm4-80gb-dgx__515.43.04.txt": dict(
        count=8, name="NVIDIA A100-SXM...", memory=81920, pcie=_NONE,
        driver="515.43.04", cuda="11.7", reasons=[], arch="Ampere", cc="8.0",
    ),
    "nvsmi_default__8x-h100-sxm5-80gb__565.57.01.txt": dict(
        count=8, name="NVIDIA H100 80GB HBM3", memory=81559, pcie=_NONE,
        driver="565.57.01", cuda="12.7", reasons=[], arch="Hopper", cc="9.0",
    ),
    "nvsmi_default__8x-p100-sxm2__440.33.01.txt": dict(
        count=8, name="Tesla P100-SXM2...", memory=16280, pcie=_NONE,
        driver="440.33.01", cuda="10.2", reasons=[], arch="Pascal", cc="6.0",
    ),
    "nvsmi_default__8x-v100-sxm2-32gb__460.32.03__inforom-warning.txt": dict(
        count=8, name="Tesla V100-SXM2...", memory=32510, pcie=_NONE,
        driver="460.32.03", cuda="11.2", reasons=[], arch="Volta", cc="7.0",
    ),
    "nvsmi_default__gh200__550.127.05.txt": dict(
        count=1, name="NVIDIA GH200 480GB", memory=97871, pcie=_NONE,
        driver="550.127.05", cuda="12.4", reasons=[], arch="Hopper", cc="9.0",
    ),
    "nvsmi_default__gtx680__470.256.02.txt": dict(
        count=1, name="NVIDIA GeForce ...", memory=2000, pcie=_NONE,
        driver="470.256.02", cuda="11.4", reasons=[], arch=None, cc=None,
    ),
    "nvsmi_default__h100-80gb-hbm3__590.48.01__idle.txt": dict(
        count=1, name="NVIDIA H100 80GB HBM3", memory=81559, pcie=_NONE,
        driver="590.48.01", cuda="13.1", reasons=[], arch="Hopper", cc="9.0",
    ),
    "nvsmi_default__h100-mig__590.48.01__load.txt": dict(
        count=1, name="NVIDIA H100 80GB HBM3", memory=81559, pcie=_NONE,
        driver="590.48.01", cuda="13.1", reasons=[], arch="Hopper", cc="9.0",
    ),
    "nvsmi_default__l40s__595.80__idle.txt": dict(
        count=1, name="NVIDIA L40S", memory=46068, pcie=_NONE,
        driver="595.80", cuda="13.2", reasons=[], arch="Ada Lovelace", cc="8.9",
    ),
    "nvsmi_default__rtx4080super__595.71.05__load.txt": dict(
        count=1, name="NVIDIA GeForce RTX 4080 ...", memory=16376, pcie=_NONE,
        driver="595.71.05", cuda="13.2", reasons=[], arch="Ada Lovelace", cc="8.9",
    ),
    "nvsmi_default__windows-rtx2080super__610.62__idle.txt": dict(
        count=1, name="NVIDIA GeForce RTX 2080 ...", memory=8192, pcie=_NONE,
        driver="610.62", cuda="13.3", reasons=[], arch="Turing", cc="7.5",
    ),
}  # fmt: skip

OTHERS = {
    "nvsmi_L__h100-mig__590.48.01.txt",
    "nvsmi_nvlink-s__8x-v100-sxm2__inactive-links.txt",
    "nvsmi_csv__compute-apps__h100-mig__590.48.01__load.csv",
}
PARSERS: dict[str, Callable[[str], GpuReport]] = {
    **dict.fromkeys(XML, parse_nvsmi_xml),
    **dict.fromkeys(Q, parse_nvsmi_q),
    **dict.fromkeys(CSV, parse_nvsmi_csv),
    **dict.fromkeys(TABLE, parse_nvsmi_table),
}
EXPECTED = {**XML, **Q, **CSV, **TABLE}


def _pcie(gpu: GpuFacts) -> tuple[int | None, ...]:
    link = gpu.pcie
    return (link.gen_current, link.gen_max, link.width_current, link.width_max)


def test_every_nvsmi_capture_has_expectations(nvsmi_real: Read) -> None:
    captures = {path.name for path in REAL.glob("nvsmi_*")}
    assert captures == set(EXPECTED) | OTHERS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_parses_to_expected_values(name: str, nvsmi_real: Read) -> None:
    want = EXPECTED[name]
    report = PARSERS[name](nvsmi_real(name))
    assert len(report.gpus) == want["count"]
    assert (report.driver_version, report.cuda_version) == (want["driver"], want["cuda"])
    assert [gpu.index for gpu in report.gpus] == list(range(want["count"]))
    for gpu in report.gpus:
        assert gpu.name == want["name"]
        assert gpu.name_truncated == want["name"].endswith("...")
        assert gpu.memory_total_mib == want["memory"]
        assert _pcie(gpu) == want["pcie"]
        assert (gpu.architecture, gpu.compute_capability) == (want["arch"], want["cc"])
    assert report.gpus[0].throttle_reasons == want["reasons"]


# --- XML quirks ---------------------------------------------------------------------------------


def test_xml_attached_gpus_mismatch_is_reported(nvsmi_real: Read) -> None:
    report = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__telegraf__a100-sxm4-v12.xml"))
    assert len(report.gpus) == 1
    assert report.warnings == ["nvidia-smi XML says attached_gpus=4 but holds 1 <gpu> element(s)"]
    gpu = report.gpus[0]
    assert gpu.index == 0  # minor_number is 1: the index is the order in the file
    assert gpu.power_limit_w == 500.0  # current_power_limit in gpu_power_readings
    assert gpu.mig_enabled is True
    assert [d.gpu_instance_id for d in gpu.mig_devices] == [3, 4, 5, 6]
    assert {d.memory_total_mib for d in gpu.mig_devices} == {19968}
    assert gpu.utilization_percent is None  # N/A under MIG
    assert gpu.fan_percent is None


def test_xml_mig_a100_510(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__netdata__a100-sxm4-mig.xml")).gpus
    assert [(d.gpu_instance_id, d.compute_instance_id) for d in gpu.mig_devices] == [
        (1, 0),
        (2, 0),
    ]
    assert (gpu.ecc.volatile_uncorrected, gpu.ecc.aggregate_uncorrected) == (None, 0)
    assert (gpu.temperature_slowdown_c, gpu.temperature_shutdown_c) == (89.0, 92.0)
    assert gpu.memory_temperature_c == 44.0
    assert gpu.power_limit_w == 400.0


def test_xml_driver_535_power_readings_and_tlimit(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__netdata__rtx-4090-driver-535.xml")).gpus
    assert (gpu.power_draw_w, gpu.power_limit_w, gpu.power_max_limit_w) == (26.84, 450.0, 600.0)
    # only T.Limit offsets in this driver: 40 C + 43 C headroom - (-2 C / -7 C); 90 C is the
    # RTX 4090's specified maximum GPU temperature
    assert (gpu.temperature_slowdown_c, gpu.temperature_shutdown_c) == (85.0, 90.0)
    assert gpu.ecc.remapped_rows_pending is False
    assert gpu.persistence_mode is True


def test_xml_v13_average_power_and_processes(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__telegraf__rtx-4000-sff-ada-v13.xml")).gpus
    assert (gpu.power_draw_w, gpu.power_limit_w) == (8.81, 70.0)
    assert [(p.pid, p.type, p.used_memory_mib) for p in gpu.processes] == [
        (1842, "G", 410),
        (3190, "G", 451),
        (4937, "C", 160),
        (34626, "C+G", 183),
    ]
    assert gpu.ecc.enabled is False


def test_xml_windows_processes_without_memory(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__netdata__rtx-2080-win.xml")).gpus
    assert len(gpu.processes) == 26
    assert {p.used_memory_mib for p in gpu.processes} == {None}
    assert {p.type for p in gpu.processes} == {"C+G"}
    assert gpu.persistence_mode is None  # N/A on Windows
    assert gpu.memory_reserved_mib == 182


def test_xml_old_driver_and_unknown_name(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__telegraf__gtx-1660-ti.xml")).gpus
    assert gpu.memory_reserved_mib is None  # no <reserved> before 510
    assert gpu.ecc.enabled is None
    assert gpu.mig_enabled is None
    assert gpu.fan_percent == 0.0


def test_xml_tesla_t4_retired_pages(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__telegraf__tesla-t4.xml")).gpus
    assert gpu.ecc.retired_pages == 0
    assert gpu.ecc.retired_pages_pending is False
    assert (gpu.ecc.volatile_uncorrected, gpu.ecc.aggregate_uncorrected) == (0, 0)
    assert gpu.fan_percent is None


def test_xml_quadro_p2000_legacy_ecc_layout(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_real("nvsmi_xml__telegraf__quadro-p2000-v12.xml")).gpus
    assert gpu.ecc.volatile_uncorrected is None  # single_bit/double_bit totals are N/A
    assert gpu.persistence_mode is True
    assert gpu.fan_percent == 46.0


# --- -q quirks ----------------------------------------------------------------------------------


def test_q_two_rtx3090_link_down_trained(nvsmi_real: Read) -> None:
    report = parse_nvsmi_q(nvsmi_real("nvsmi_q__2x-rtx3090__560.35.03.txt"))
    assert [gpu.bus_id for gpu in report.gpus] == ["0000:41:00.0", "0000:81:00.0"]
    assert [gpu.uuid for gpu in report.gpus] == [
        "GPU-4aba3cfa-7b42-cca6-97f4-5cdd281b0746",
        "GPU-74e6e433-5193-b31f-b8b5-7a54c8b4623e",
    ]
    assert report.gpus[0].memory_temperature_c is None  # N/A
    assert report.gpus[0].ecc.enabled is None


def test_q_old_a100_460(nvsmi_real: Read) -> None:
    report = parse_nvsmi_q(nvsmi_real("nvsmi_q__8x-a100-sxm4-40gb__460.32.03.txt"))
    assert [gpu.bus_id for gpu in report.gpus][:2] == ["0001:00:00.0", "0002:00:00.0"]
    gpu = report.gpus[0]
    assert gpu.ecc.enabled is True  # "Ecc Mode"
    assert (gpu.ecc.remapped_rows_pending, gpu.ecc.remapped_rows_failure) == (False, False)
    assert (gpu.temperature_slowdown_c, gpu.temperature_shutdown_c) == (89.0, 92.0)
    assert gpu.power_limit_w == 400.0
    assert gpu.mig_enabled is False


def test_q_mig_devices_and_processes(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_q(nvsmi_real("nvsmi_q__h100-mig__590.48.01__load.txt")).gpus
    assert gpu.mig_enabled is True
    assert [(d.gpu_instance_id, d.memory_total_mib) for d in gpu.mig_devices] == [
        (2, 40448),
        (3, 20096),
        (9, 9984),
        (10, 9984),
    ]
    assert [(p.pid, p.name, p.used_memory_mib) for p in gpu.processes] == [
        (21180, "/root/tools/memhog", 2296),
        (21181, "/root/tools/memhog", 1272),
        (21198, "./gpu_burn", 7484),
    ]
    assert gpu.utilization_percent is None
    assert gpu.power_draw_w == 432.21  # Average Power Draw


def test_q_610_deprecated_driver_line_and_ceiling_limit(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_q(nvsmi_real("nvsmi_q__rtx2080super__610.57.04__idle.txt")).gpus
    assert gpu.power_limit_w == 250.0  # under "GPU Ceiling Power Limit"
    assert gpu.power_draw_w == 38.89  # Average is N/A, Instantaneous is used
    assert [p.pid for p in gpu.processes] == [1720, 4556]


# --- CSV quirks ---------------------------------------------------------------------------------


def test_csv_p100_bare_numbers_and_na_fan(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_csv(nvsmi_real("nvsmi_csv__tesla-p100__510.47.03.csv")).gpus
    assert gpu.fan_percent is None
    assert (gpu.memory_reserved_mib, gpu.memory_used_mib, gpu.memory_free_mib) == (103, 0, 16280)
    assert (gpu.power_draw_w, gpu.clock_sm_mhz, gpu.clock_mem_mhz) == (28.16, 405, 715)
    assert gpu.pstate == "P0"
    assert gpu.bus_id is None


def test_csv_all_fields_h100(nvsmi_real: Read) -> None:
    name = "nvsmi_csv__h100-80gb-hbm3__590.48.01__idle__allfields.csv"
    (gpu,) = parse_nvsmi_csv(nvsmi_real(name)).gpus
    assert gpu.bus_id == "0000:00:09.0"
    assert gpu.ecc.enabled is True
    assert (gpu.ecc.volatile_uncorrected, gpu.ecc.aggregate_uncorrected) == (0, 0)
    assert gpu.ecc.retired_pages is None  # [N/A]
    assert gpu.ecc.remapped_rows_pending is False
    assert (gpu.mig_enabled, gpu.persistence_mode) == (False, True)
    assert (gpu.power_draw_w, gpu.power_limit_w, gpu.power_max_limit_w) == (69.85, 700.0, 700.0)
    assert gpu.memory_temperature_c == 48.0
    assert gpu.fan_percent is None


def test_csv_all_fields_consumer_and_windows(nvsmi_real: Read) -> None:
    name = "nvsmi_csv__rtx4080super__595.71.05__idle__allfields.csv"
    (consumer,) = parse_nvsmi_csv(nvsmi_real(name)).gpus
    assert (consumer.ecc.enabled, consumer.ecc.volatile_uncorrected) == (None, None)
    assert consumer.memory_temperature_c is None
    name = "nvsmi_csv__windows-rtx2080super__610.62__idle__allfields.csv"
    (windows,) = parse_nvsmi_csv(nvsmi_real(name)).gpus
    assert windows.persistence_mode is None
    assert windows.power_draw_w == 39.25


def test_csv_compute_apps(nvsmi_real: Read) -> None:
    name = "nvsmi_csv__compute-apps__h100-mig__590.48.01__load.csv"
    processes = parse_compute_apps_csv(nvsmi_real(name))
    assert [(key, p.pid, p.name, p.used_memory_mib) for key, p in processes] == [
        ("0000:00:09.0", 21180, "/root/tools/memhog", 2296),
        ("0000:00:09.0", 21181, "/root/tools/memhog", 1272),
        ("0000:00:09.0", 21198, "./gpu_burn", 7484),
    ]


# --- table, -L and nvlink quirks ----------------------------------------------------------------


def test_table_gtx680_old_layout_na_power(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_table(nvsmi_real("nvsmi_default__gtx680__470.256.02.txt")).gpus
    assert (gpu.power_draw_w, gpu.power_limit_w, gpu.utilization_percent) == (None, None, None)
    assert (gpu.fan_percent, gpu.temperature_c, gpu.pstate) == (37.0, 35.0, "P0")
    assert gpu.bus_id == "0000:08:00.0"
    assert gpu.ecc.enabled is None
    assert gpu.mig_enabled is None
    assert gpu.persistence_mode is False


def test_table_p100_pre_mig_processes(nvsmi_real: Read) -> None:
    report = parse_nvsmi_table(nvsmi_real("nvsmi_default__8x-p100-sxm2__440.33.01.txt"))
    by_gpu = {gpu.index: [(p.pid, p.used_memory_mib) for p in gpu.processes] for gpu in report.gpus}
    assert by_gpu == {
        0: [], 1: [], 2: [], 3: [],
        4: [(32263, 10243)],
        5: [(32264, 10243)],
        6: [(33062, 10235)],
        7: [(33063, 10235), (35147, 3439)],
    }  # fmt: skip
    assert {gpu.mig_enabled for gpu in report.gpus} == {None}
    assert {gpu.ecc.volatile_uncorrected for gpu in report.gpus} == {0}
    assert report.gpus[7].memory_used_mib == 13684


def test_table_inforom_warning(nvsmi_real: Read) -> None:
    name = "nvsmi_default__8x-v100-sxm2-32gb__460.32.03__inforom-warning.txt"
    report = parse_nvsmi_table(nvsmi_real(name))
    assert report.warnings == ["WARNING: infoROM is corrupted at gpu 0008:00:00.0"]
    assert [gpu.bus_id for gpu in report.gpus] == [f"000{n}:00:00.0" for n in range(1, 9)]


def test_table_mig(nvsmi_real: Read) -> None:
    (gpu,) = parse_nvsmi_table(nvsmi_real("nvsmi_default__h100-mig__590.48.01__load.txt")).gpus
    assert gpu.mig_enabled is True
    assert gpu.ecc.enabled is True  # "On" in the ECC cell
    assert [
        (d.gpu_instance_id, d.compute_instance_id, d.memory_used_mib, d.memory_total_mib)
        for d in gpu.mig_devices
    ] == [(2, 0, 11091, 40448), (3, 0, 17, 20096), (9, 0, 9, 9984), (10, 0, 9, 9984)]
    assert [(p.pid, p.used_memory_mib) for p in gpu.processes] == [
        (21180, 2296),
        (21181, 1272),
        (21198, 7484),
    ]
    assert (gpu.power_draw_w, gpu.power_limit_w) == (432.0, 700.0)


def test_table_windows_kmd_header(nvsmi_real: Read) -> None:
    name = "nvsmi_default__windows-rtx2080super__610.62__idle.txt"
    (gpu,) = parse_nvsmi_table(nvsmi_real(name)).gpus
    assert gpu.persistence_mode is None  # the column is the driver model (WDDM)
    assert len(gpu.processes) == 19
    assert {p.used_memory_mib for p in gpu.processes} == {None}
    assert gpu.processes[0].name == "C:\\Windows\\System32\\dwm.exe"


def test_table_consumer_processes_and_ecc(nvsmi_real: Read) -> None:
    name = "nvsmi_default__rtx4080super__595.71.05__load.txt"
    (gpu,) = parse_nvsmi_table(nvsmi_real(name)).gpus
    assert [p.type for p in gpu.processes] == ["C+G", "G", "G", "G", "G", "C", "C"]
    assert gpu.processes[-1].used_memory_mib == 503
    assert gpu.ecc.enabled is None
    name = "nvsmi_default__4x-rtx-a6000__510.73.05.txt"
    report = parse_nvsmi_table(nvsmi_real(name))
    assert {gpu.ecc.enabled for gpu in report.gpus} == {False}  # "Off"


def test_list_mig_children(nvsmi_real: Read) -> None:
    report = parse_nvsmi_list(nvsmi_real("nvsmi_L__h100-mig__590.48.01.txt"))
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.uuid == "GPU-00000000-0000-0000-0000-000000000000"
    assert [d.profile for d in gpu.mig_devices] == ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]
    assert gpu.mig_devices[1].uuid == "MIG-00000001-0000-0000-0000-000000000001"


def test_nvlink_inactive_links(nvsmi_real: Read) -> None:
    links = parse_nvlink_status(nvsmi_real("nvsmi_nvlink-s__8x-v100-sxm2__inactive-links.txt"))
    assert len(links) == 42  # 7 GPUs x 6 links
    inactive = {(link.gpu_index, link.link) for link in links if not link.active}
    assert inactive == {(3, 3), (3, 5), (4, 1), (5, 0), (5, 4), (6, 1)}
    assert {link.speed_gbps for link in links if link.active} == {25.781}
    assert {link.speed_gbps for link in links if not link.active} == {None}
