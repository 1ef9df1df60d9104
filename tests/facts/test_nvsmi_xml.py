"""parse_nvsmi_xml on hand-written ``nvidia-smi -q -x`` samples (old and new schemas) and fuzz."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moefleet.errors import ParseError
from moefleet.facts.model import GpuReport
from moefleet.facts.nvsmi_xml import parse_nvsmi_xml

Read = Callable[[str], str]
SAMPLES = [p.read_text() for p in sorted((Path(__file__).parent / "fixtures/nvsmi").glob("xml_*"))]


def test_old_schema_two_gpus(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_xml(nvsmi_fixture("xml_v10_legacy_2gpu.xml"))
    assert report.source == "nvidia-smi-xml"
    assert (report.driver_version, report.cuda_version) == ("418.87.01", "10.1")
    assert report.warnings == []
    idle = report.gpus[0]
    assert [gpu.index for gpu in report.gpus] == [0, 1]
    assert idle.name == "Tesla V100-PCIE-16GB"
    assert idle.bus_id == "0000:3b:00.0"
    # no product_architecture in old drivers: filled from the name
    assert (idle.architecture, idle.compute_capability) == ("Volta", "7.0")
    assert idle.pcie.model_dump() == {
        "gen_current": 3,
        "gen_max": 3,
        "width_current": 8,
        "width_max": 16,
    }
    assert idle.power_limit_w == 200.0  # the enforced limit, not the requested 250 W
    assert idle.power_max_limit_w == 250.0
    assert idle.fan_percent is None
    assert idle.memory_reserved_mib is None
    assert idle.throttle_reasons == ["gpu_idle"]
    assert (idle.temperature_slowdown_c, idle.temperature_shutdown_c) == (84.0, 87.0)
    assert idle.ecc.aggregate_corrected == 4
    assert idle.ecc.retired_pages_pending is False


def test_old_schema_throttling_gpu_with_ecc_errors(nvsmi_fixture: Read) -> None:
    hot = parse_nvsmi_xml(nvsmi_fixture("xml_v10_legacy_2gpu.xml")).gpus[1]
    assert hot.throttle_reasons == ["hw_slowdown", "sw_thermal_slowdown"]
    assert hot.ecc.enabled is True
    assert (hot.ecc.volatile_uncorrected, hot.ecc.aggregate_uncorrected) == (3, 5)
    assert (hot.ecc.volatile_corrected, hot.ecc.aggregate_corrected) == (12, 40)
    assert hot.ecc.retired_pages == 3
    assert hot.ecc.retired_pages_pending is True
    assert hot.ecc.remapped_rows_pending is None
    assert [(p.pid, p.name, p.used_memory_mib, p.type) for p in hot.processes] == [
        (30417, "python3", 15008, "C")
    ]
    assert (hot.utilization_percent, hot.clock_sm_mhz, hot.clock_sm_max_mhz) == (97.0, 1005, 1380)


def test_new_schema_v13(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_xml(nvsmi_fixture("xml_v13_rtx4090.xml"))
    (gpu,) = report.gpus
    assert (report.driver_version, report.cuda_version) == ("580.65.06", "13.0")
    assert gpu.architecture == "Ada Lovelace"
    assert gpu.compute_capability == "8.9"
    assert gpu.throttle_reasons == ["sw_power_cap", "sw_thermal_slowdown"]
    assert gpu.power_draw_w == 402.5  # average_power_draw when there is no power_draw
    assert gpu.power_limit_w == 400.0  # current_power_limit
    assert gpu.power_max_limit_w == 600.0
    # absolute thresholds derived from the T.Limit offsets: 83 C now + 6 C headroom - offset
    assert (gpu.temperature_slowdown_c, gpu.temperature_shutdown_c) == (91.0, 96.0)
    assert gpu.memory_temperature_c is None
    assert gpu.ecc.enabled is False
    assert gpu.ecc.volatile_uncorrected is None
    assert gpu.ecc.remapped_rows_pending is False
    assert gpu.mig_enabled is None
    assert gpu.mig_devices == []
    assert gpu.fan_percent == 65.0
    assert gpu.pstate == "P2"
    assert [p.pid for p in gpu.processes] == [2211, 51234]


def test_mig_devices_and_sram_dram_counters(nvsmi_fixture: Read) -> None:
    (gpu,) = parse_nvsmi_xml(nvsmi_fixture("xml_v12_a100_mig.xml")).gpus
    assert gpu.index == 0  # the order in the file, not minor_number 3
    assert gpu.mig_enabled is True
    assert [
        (d.gpu_instance_id, d.compute_instance_id, d.memory_total_mib, d.memory_used_mib)
        for d in gpu.mig_devices
    ] == [(1, 0, 40192, 30211), (7, 0, 9856, 13)]
    assert gpu.ecc.volatile_uncorrected == 3  # sram 1 + dram 2
    assert gpu.ecc.aggregate_uncorrected == 9
    assert gpu.ecc.volatile_corrected == 7
    assert gpu.ecc.remapped_rows_pending is True
    assert gpu.ecc.remapped_rows_failure is False
    assert gpu.ecc.retired_pages is None
    assert gpu.utilization_percent is None
    assert gpu.throttle_reasons == []


def test_attached_gpus_mismatch_is_a_warning() -> None:
    text = (
        "<nvidia_smi_log><driver_version>550.54.14</driver_version>"
        "<attached_gpus>2</attached_gpus>"
        "<gpu id='00000000:01:00.0'><product_name>NVIDIA L4</product_name></gpu>"
        "</nvidia_smi_log>"
    )
    report = parse_nvsmi_xml(text)
    assert len(report.gpus) == 1
    assert report.gpus[0].bus_id == "0000:01:00.0"  # from the id attribute
    assert report.warnings == ["nvidia-smi XML says attached_gpus=2 but holds 1 <gpu> element(s)"]


def test_entity_declarations_are_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE nvidia_smi_log [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<nvidia_smi_log><driver_version>&b;</driver_version></nvidia_smi_log>"
    )
    with pytest.raises(ParseError, match="entities"):
        parse_nvsmi_xml(bomb)


def test_external_entities_are_not_resolved() -> None:
    text = (
        '<?xml version="1.0"?><!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">'
        "<nvidia_smi_log><driver_version>&xxe;</driver_version></nvidia_smi_log>"
    )
    with pytest.raises(ParseError, match="not well-formed"):
        parse_nvsmi_xml(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "XML"),
        ("", "not well-formed"),
        ("<html><body>502</body></html>", "<html>"),
        ("<nvidia_smi_log><gpu><uuid>GPU-1</uuid></gpu></nvidia_smi_log>", "product_name"),
    ],
)
def test_garbage_raises_parse_error(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_nvsmi_xml(text)


def test_empty_log_is_an_empty_report() -> None:
    report = parse_nvsmi_xml("<nvidia_smi_log><attached_gpus>0</attached_gpus></nvidia_smi_log>")
    assert report.gpus == []
    assert report.warnings == []


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_returns_report_or_parse_error(
    data: st.DataObject, nvsmi_fuzz_texts: Callable[[Sequence[str]], st.SearchStrategy[str]]
) -> None:
    text = data.draw(nvsmi_fuzz_texts(SAMPLES))
    try:
        report = parse_nvsmi_xml(text)
    except ParseError:
        return
    assert isinstance(report, GpuReport)
