"""rocm-smi parsing: concise tables of several ROCm releases and the detailed -a output."""

from __future__ import annotations

import pytest

from moefleet.errors import ParseError
from moefleet.facts.model import GpuReport
from moefleet.facts.rocm import parse_rocm_smi
from tests.facts.system_helpers import assert_parses_or_raises_parse_error, fixture


def test_rocm5_concise_table():
    report = parse_rocm_smi(fixture("rocmsmi_concise_rocm5.txt"))
    assert report.source == "rocm-smi"
    assert [gpu.index for gpu in report.gpus] == [0, 1]
    first, second = report.gpus
    assert (first.vendor, first.name) == ("amd", "AMD GPU")  # this layout prints no name
    assert (first.temperature_c, first.power_draw_w, first.power_limit_w) == (41.0, 92.0, 300.0)
    assert (first.fan_percent, first.utilization_percent) == (21.96, 95.0)
    assert (first.clock_sm_mhz, first.clock_mem_mhz) == (1700, 1200)
    assert (second.temperature_c, second.power_draw_w, second.power_limit_w) == (None, None, None)
    assert second.clock_sm_mhz is None


def test_rocm6_concise_table_with_ids_and_partitions():
    report = parse_rocm_smi(fixture("rocmsmi_concise_rocm6.txt"))
    assert len(report.gpus) == 2
    gpu = report.gpus[0]
    assert (gpu.temperature_c, gpu.power_draw_w, gpu.power_limit_w) == (44.0, 101.0, 300.0)
    assert (gpu.utilization_percent, gpu.clock_sm_mhz) == (40.0, 1500)


def test_showallinfo():
    report = parse_rocm_smi(fixture("rocmsmi_showallinfo_2gpu.txt"))
    assert report.driver_version == "6.3.6"
    assert report.warnings == ["WARNING: \t\t One or more commands failed."]
    first, second = report.gpus
    assert first.name == "Instinct MI210"
    assert second.name == "Aldebaran/MI200 [Instinct MI210]"  # Card Series is N/A
    assert (first.temperature_c, first.memory_temperature_c) == (44.0, 52.0)
    assert second.temperature_c == 47.0  # edge N/A -> junction
    assert (first.fan_percent, second.fan_percent) == (20.0, None)
    assert (first.power_draw_w, first.power_limit_w, second.power_limit_w) == (101.0, 300.0, 280.0)
    assert (first.memory_total_mib, first.memory_used_mib) == (65520, 8192)
    assert second.memory_used_mib == 11
    assert (first.bus_id, second.bus_id) == ("0000:c1:00.0", "0000:c2:00.0")
    assert first.utilization_percent == 40.0


def test_banner_without_gpus_is_an_empty_report():
    text = "==== ROCm System Management Interface ====\nWARNING: No AMD GPUs specified\n"
    report = parse_rocm_smi(text)
    assert report.gpus == []
    assert report.warnings == ["WARNING: No AMD GPUs specified"]


@pytest.mark.parametrize("text", ["", "\n", "command not found", "GPU  Temp\n"])
def test_unrecognisable_input_raises(text):
    with pytest.raises(ParseError, match="rocm-smi"):
        parse_rocm_smi(text)


@pytest.mark.parametrize(
    "name",
    ["rocmsmi_concise_rocm5.txt", "rocmsmi_concise_rocm6.txt", "rocmsmi_showallinfo_2gpu.txt"],
)
def test_fuzz_rocm_smi(name):
    assert_parses_or_raises_parse_error(parse_rocm_smi, fixture(name), GpuReport)


def test_overlong_numbers_are_unknown_not_an_overflow():
    text = fixture("rocmsmi_concise_rocm5.txt").replace("1700Mhz", "9" * 400 + "Mhz")
    text = text.replace("41.0c", "9" * 400 + "c")
    gpu = parse_rocm_smi(text).gpus[0]
    assert (gpu.clock_sm_mhz, gpu.temperature_c) == (None, None)
