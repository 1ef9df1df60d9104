"""parse_nvsmi_q on hand-written ``nvidia-smi -q`` samples (4xx and 610 field names) and fuzz."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moefleet.errors import ParseError
from moefleet.facts.model import GpuReport
from moefleet.facts.nvsmi_text import parse_nvsmi_q

Read = Callable[[str], str]
SAMPLES = [p.read_text() for p in sorted((Path(__file__).parent / "fixtures/nvsmi").glob("q_*"))]


def test_old_field_names_two_gpus(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_q(nvsmi_fixture("q_460_v100_2gpu.txt"))
    assert report.source == "nvidia-smi-q"
    assert (report.driver_version, report.cuda_version) == ("460.91.03", "11.2")
    assert report.warnings == []
    first, second = report.gpus
    assert (first.index, second.index) == (0, 1)
    assert first.name == "Tesla V100-SXM2-16GB"
    assert first.uuid == "GPU-aaaabbbb-cccc-dddd-eeee-ffff00001111"
    assert first.bus_id == "0000:1a:00.0"
    assert (first.architecture, first.compute_capability) == ("Volta", "7.0")
    assert first.memory_total_mib == 16160
    assert first.memory_reserved_mib is None
    assert first.throttle_reasons == ["gpu_idle"]
    assert first.utilization_percent == 0.0  # "Gpu" in 4xx drivers
    assert first.ecc.enabled is True  # "Ecc Mode" in 4xx drivers
    assert (first.temperature_slowdown_c, first.temperature_shutdown_c) == (87.0, 90.0)
    assert (first.power_draw_w, first.power_limit_w, first.power_max_limit_w) == (
        41.2,
        300.0,
        300.0,
    )
    assert first.mig_enabled is None
    assert first.processes == []


def test_throttling_gpu_with_ecc_errors_and_pending_pages(nvsmi_fixture: Read) -> None:
    gpu = parse_nvsmi_q(nvsmi_fixture("q_460_v100_2gpu.txt")).gpus[1]
    assert gpu.pcie.model_dump() == {
        "gen_current": 2,
        "gen_max": 3,
        "width_current": 8,
        "width_max": 16,
    }
    # "HW Thermal Slowdown" is nested under "HW Slowdown" in the text
    assert gpu.throttle_reasons == [
        "sw_power_cap",
        "hw_slowdown",
        "hw_thermal_slowdown",
        "sw_thermal_slowdown",
    ]
    assert (gpu.ecc.volatile_uncorrected, gpu.ecc.aggregate_uncorrected) == (2, 4)
    assert (gpu.ecc.volatile_corrected, gpu.ecc.aggregate_corrected) == (6, 19)
    assert gpu.ecc.retired_pages == 5
    assert gpu.ecc.retired_pages_pending is True
    assert [(p.pid, p.name, p.used_memory_mib, p.type) for p in gpu.processes] == [
        (4410, "/usr/bin/python3", 13998, "C")
    ]


def test_new_field_names_mig_and_kmd_version(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_q(nvsmi_fixture("q_610_h100_mig.txt"))
    # the deprecated "Driver Version" line carries a note; "KMD Version" is preferred
    assert (report.driver_version, report.cuda_version) == ("610.40.02", "13.3")
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H100 NVL"
    assert gpu.architecture == "Hopper"
    assert gpu.throttle_reasons == ["sw_thermal_slowdown"]
    assert gpu.power_draw_w == 355.4  # Average Power Draw
    assert gpu.power_limit_w == 400.0  # under "GPU Ceiling Power Limit"
    # only T.Limit offsets are given: 79 C + 4 C headroom - (-2 C / -8 C)
    assert (gpu.temperature_slowdown_c, gpu.temperature_shutdown_c) == (85.0, 91.0)
    assert gpu.memory_temperature_c == 81.0
    assert gpu.utilization_percent is None
    assert gpu.ecc.volatile_uncorrected == 2  # parity 1 + SEC-DED 0 + DRAM 1
    assert gpu.ecc.aggregate_uncorrected == 6
    assert gpu.ecc.volatile_corrected == 5
    assert gpu.ecc.remapped_rows_pending is True
    assert gpu.ecc.remapped_rows_failure is False
    assert gpu.mig_enabled is True
    assert [
        (d.gpu_instance_id, d.compute_instance_id, d.memory_total_mib, d.memory_used_mib)
        for d in gpu.mig_devices
    ] == [(1, 0, 47616, 40960), (5, 0, 23552, 21)]
    assert [(p.pid, p.name, p.used_memory_mib) for p in gpu.processes] == [
        (90121, "/usr/local/bin/llama-server", 40912)
    ]


def test_attached_count_mismatch_is_a_warning() -> None:
    text = "Attached GPUs : 3\nGPU 00000000:01:00.0\n    Product Name : NVIDIA A40\n"
    report = parse_nvsmi_q(text)
    assert [gpu.name for gpu in report.gpus] == ["NVIDIA A40"]
    assert report.warnings == ["nvidia-smi -q says 'Attached GPUs: 3' but lists 1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "-q"),
        ("", "not nvidia-smi -q output"),
        ("No devices were found", "not nvidia-smi -q output"),
        ("Attached GPUs : 1\nGPU 00000000:01:00.0\n    Fan Speed : 30 %\n", "Product Name"),
    ],
)
def test_garbage_raises_parse_error(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_nvsmi_q(text)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_returns_report_or_parse_error(
    data: st.DataObject, nvsmi_fuzz_texts: Callable[[Sequence[str]], st.SearchStrategy[str]]
) -> None:
    text = data.draw(nvsmi_fuzz_texts(SAMPLES))
    try:
        report = parse_nvsmi_q(text)
    except ParseError:
        return
    assert isinstance(report, GpuReport)
