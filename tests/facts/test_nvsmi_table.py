"""parse_nvsmi_table / parse_nvsmi_list / parse_nvlink_status on hand-written samples and fuzz."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moefleet.errors import ParseError
from moefleet.facts.model import GpuReport
from moefleet.facts.nvsmi_table import parse_nvlink_status, parse_nvsmi_list, parse_nvsmi_table

Read = Callable[[str], str]
Fuzz = Callable[[Sequence[str]], st.SearchStrategy[str]]
FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"
TABLES = [p.read_text() for p in sorted(FIXTURES.glob("table_*"))]
LISTS = [p.read_text() for p in sorted(FIXTURES.glob("list_*"))]
NVLINKS = [p.read_text() for p in sorted(FIXTURES.glob("nvlink_*"))]
FAILED = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."


def test_modern_layout(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_table(nvsmi_fixture("table_89col_2gpu.txt"))
    assert report.source == "nvidia-smi-table"
    assert (report.driver_version, report.cuda_version) == ("580.82.07", "13.0")
    assert report.warnings == []
    consumer, workstation = report.gpus
    assert (consumer.index, consumer.name, consumer.name_truncated) == (
        0,
        "NVIDIA GeForce RTX 4090",
        False,
    )
    assert consumer.bus_id == "0000:01:00.0"
    assert (consumer.fan_percent, consumer.temperature_c, consumer.pstate) == (41.0, 52.0, "P2")
    assert (consumer.power_draw_w, consumer.power_limit_w) == (318.0, 450.0)
    assert (consumer.memory_used_mib, consumer.memory_total_mib) == (20712, 24564)
    assert consumer.utilization_percent == 97.0
    assert consumer.ecc.enabled is None  # "N/A"
    assert consumer.persistence_mode is False
    assert consumer.mig_enabled is None
    assert (consumer.architecture, consumer.compute_capability) == ("Ada Lovelace", "8.9")
    assert [(p.pid, p.name, p.type, p.used_memory_mib) for p in consumer.processes] == [
        (1804, "/usr/lib/xorg/Xorg", "G", 58),
        (27720, "...lama.cpp/build/bin/llama-server", "C", 20630),
    ]
    assert workstation.name == "NVIDIA RTX 6000 Ada Gene..."
    assert workstation.name_truncated is True
    assert workstation.compute_capability == "8.9"  # "Ada" survived the cut
    assert (workstation.ecc.enabled, workstation.ecc.volatile_uncorrected) == (True, 0)
    assert workstation.persistence_mode is True
    assert workstation.processes == []


def test_legacy_79_columns_with_na_power(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_table(nvsmi_fixture("table_79col_legacy.txt"))
    assert (report.driver_version, report.cuda_version) == ("470.199.02", "11.4")
    geforce, tesla = report.gpus
    assert geforce.name == "NVIDIA GeForce ..."
    assert geforce.name_truncated is True
    assert (geforce.architecture, geforce.compute_capability) == (None, None)
    assert (geforce.power_draw_w, geforce.power_limit_w) == (None, None)
    assert geforce.utilization_percent is None
    assert geforce.fan_percent == 45.0
    assert (tesla.name, tesla.ecc.volatile_uncorrected, tesla.fan_percent) == ("Tesla T4", 0, None)
    assert [(p.pid, p.used_memory_mib) for p in tesla.processes] == [(51015, 1097)]


def test_pre_mig_two_rows_per_gpu(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_table(nvsmi_fixture("table_pre_mig_2row.txt"))
    first, second = report.gpus
    assert first.mig_enabled is None
    assert second.ecc.volatile_uncorrected == 1
    assert (second.power_draw_w, second.utilization_percent) == (211.0, 100.0)
    # the process table has no GI/CI columns
    assert [(p.pid, p.name, p.type, p.used_memory_mib) for p in second.processes] == [
        (20481, "/home/alice/envs/train/bin/python", "C", 15309),
        (20990, "/usr/bin/X", "G", 12),
    ]
    assert first.processes == []


def test_mig_table_and_inforom_warning(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_table(nvsmi_fixture("table_79col_mig_a100.txt"))
    (gpu,) = report.gpus
    assert gpu.mig_enabled is True
    assert gpu.ecc.enabled is True  # "On" under MIG: no count in that cell
    assert gpu.ecc.volatile_uncorrected is None
    assert [
        (d.gpu_instance_id, d.compute_instance_id, d.memory_used_mib, d.memory_total_mib)
        for d in gpu.mig_devices
    ] == [(3, 0, 19008, 20096), (5, 0, 6, 9984)]
    assert [(p.pid, p.used_memory_mib) for p in gpu.processes] == [(11873, 18990)]
    assert report.warnings == ["WARNING: infoROM is corrupted at gpu 0000:3D:00.0"]


def test_windows_kmd_header_and_driver_model(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_table(nvsmi_fixture("table_windows_kmd.txt"))
    assert (report.driver_version, report.cuda_version) == ("611.20", "13.3")
    wddm, tcc = report.gpus
    assert (wddm.persistence_mode, tcc.persistence_mode) == (None, None)
    assert tcc.ecc.enabled is False
    assert [(p.pid, p.type, p.used_memory_mib) for p in wddm.processes] == [
        (6120, "C+G", None),
        (9932, "C+G", None),
    ]


@pytest.mark.parametrize(
    "text", [FAILED, "", "No devices were found", "+---+\n| NVIDIA-SMI 550.54 |\n+---+\n"]
)
def test_garbage_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="not nvidia-smi table output"):
        parse_nvsmi_table(text)


def test_unreadable_gpu_row_raises_parse_error(nvsmi_fixture: Read) -> None:
    text = nvsmi_fixture("table_89col_2gpu.txt").replace("|   0  NVIDIA", "|   X  NVIDIA")
    with pytest.raises(ParseError, match="cannot read the GPU row"):
        parse_nvsmi_table(text)


def test_list_with_mig_children(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_list(nvsmi_fixture("list_mig.txt"))
    assert report.source == "nvidia-smi-list"
    first, second = report.gpus
    assert (first.index, first.name, first.uuid) == (
        0,
        "NVIDIA A100-SXM4-80GB",
        "GPU-0f0e0d0c-0b0a-0908-0706-050403020100",
    )
    assert first.compute_capability == "8.0"
    assert first.mig_enabled is True
    assert [(d.profile, d.uuid) for d in first.mig_devices] == [
        ("3g.40gb", "MIG-1a1a1a1a-2b2b-3c3c-4d4d-5e5e5e5e5e5e"),
        ("2g.20gb", "MIG-6f6f6f6f-7a7a-8b8b-9c9c-adadadadadad"),
    ]
    assert (second.mig_enabled, second.mig_devices) == (None, [])


def test_list_name_with_parentheses() -> None:
    report = parse_nvsmi_list("GPU 0: NVIDIA TITAN X (Pascal) (UUID: GPU-abc)\n")
    assert report.gpus[0].name == "NVIDIA TITAN X (Pascal)"
    assert report.gpus[0].compute_capability == "6.1"


@pytest.mark.parametrize("text", [FAILED, "", "No devices were found"])
def test_list_garbage_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="not nvidia-smi -L output"):
        parse_nvsmi_list(text)


def test_nvlink_status(nvsmi_fixture: Read) -> None:
    links = parse_nvlink_status(nvsmi_fixture("nvlink_status.txt"))
    assert [(link.gpu_index, link.link, link.active, link.speed_gbps) for link in links] == [
        (0, 0, True, 26.562),
        (0, 1, True, 26.562),
        (0, 2, False, None),
        (1, 0, True, 26.562),
        (1, 1, False, None),
        (1, 2, True, 26.562),
    ]


def test_nvlink_status_without_links() -> None:
    assert parse_nvlink_status("") == []
    assert parse_nvlink_status("GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1)\n") == []


@pytest.mark.parametrize("text", [FAILED, "         Link 0: 25.781 GB/s\n"])
def test_nvlink_garbage_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_nvlink_status(text)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_table_returns_report_or_parse_error(
    data: st.DataObject, nvsmi_fuzz_texts: Fuzz
) -> None:
    text = data.draw(nvsmi_fuzz_texts(TABLES))
    try:
        report = parse_nvsmi_table(text)
    except ParseError:
        return
    assert isinstance(report, GpuReport)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_list_returns_report_or_parse_error(
    data: st.DataObject, nvsmi_fuzz_texts: Fuzz
) -> None:
    text = data.draw(nvsmi_fuzz_texts(LISTS))
    try:
        report = parse_nvsmi_list(text)
    except ParseError:
        return
    assert isinstance(report, GpuReport)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_nvlink_returns_links_or_parse_error(
    data: st.DataObject, nvsmi_fuzz_texts: Fuzz
) -> None:
    text = data.draw(nvsmi_fuzz_texts(NVLINKS))
    try:
        links = parse_nvlink_status(text)
    except ParseError:
        return
    assert isinstance(links, list)
