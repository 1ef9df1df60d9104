"""parse_nvsmi_csv / parse_compute_apps_csv / decode_event_reasons on hand-written CSV and fuzz."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moefleet.errors import ParseError
from moefleet.facts.model import THROTTLE_REASONS, GpuReport
from moefleet.facts.nvsmi_csv import (
    EVENT_REASON_BITS,
    QUERY_GPU_FIELDS,
    QUERY_GPU_FIELDS_MINIMAL,
    decode_event_reasons,
    parse_compute_apps_csv,
    parse_nvsmi_csv,
)

Read = Callable[[str], str]
FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"
SAMPLES = [p.read_text() for p in sorted(FIXTURES.glob("csv_*"))]


def test_field_lists() -> None:
    assert QUERY_GPU_FIELDS[:2] == ("index", "name")
    assert "clocks_event_reasons.active" in QUERY_GPU_FIELDS
    assert "clocks_throttle_reasons.active" in QUERY_GPU_FIELDS_MINIMAL
    for newer in ("compute_cap", "clocks_event_reasons.active"):
        assert newer not in QUERY_GPU_FIELDS_MINIMAL
    assert set(QUERY_GPU_FIELDS_MINIMAL) - {"clocks_throttle_reasons.active"} <= set(
        QUERY_GPU_FIELDS
    )
    assert len(QUERY_GPU_FIELDS) != len(QUERY_GPU_FIELDS_MINIMAL)  # the importer tells them apart


@pytest.mark.parametrize(
    ("mask", "reasons"),
    [
        (0x0, []),
        (0x1, ["gpu_idle"]),
        (0x24, ["sw_power_cap", "sw_thermal_slowdown"]),
        (0x40, ["hw_thermal_slowdown"]),
        (0x1FF, list(THROTTLE_REASONS)),
        (0x200, []),  # a bit NVML may add later is not invented into a name
    ],
)
def test_decode_event_reasons(mask: int, reasons: list[str]) -> None:
    assert decode_event_reasons(mask) == reasons


def test_event_reason_bits_match_nvml() -> None:
    assert EVENT_REASON_BITS == {
        "gpu_idle": 0x1,
        "applications_clocks_setting": 0x2,
        "sw_power_cap": 0x4,
        "hw_slowdown": 0x8,
        "sync_boost": 0x10,
        "sw_thermal_slowdown": 0x20,
        "hw_thermal_slowdown": 0x40,
        "hw_power_brake_slowdown": 0x80,
        "display_clock_setting": 0x100,
    }


def test_header_with_units(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_csv(nvsmi_fixture("csv_header_units_2gpu.csv"))
    assert report.source == "nvidia-smi-csv"
    assert report.driver_version == "525.147.05"
    assert report.cuda_version is None
    idle, busy = report.gpus
    assert idle.name == "NVIDIA RTX A5000"
    assert idle.bus_id == "0000:21:00.0"
    assert (idle.memory_total_mib, idle.memory_reserved_mib, idle.memory_used_mib) == (
        24564,
        297,
        18,
    )
    assert (idle.architecture, idle.compute_capability) == ("Ampere", "8.6")
    assert idle.pcie.model_dump() == {
        "gen_current": 1,
        "gen_max": 4,
        "width_current": 16,
        "width_max": 16,
    }
    assert idle.memory_temperature_c is None
    assert idle.throttle_reasons == ["gpu_idle"]
    assert idle.ecc.enabled is False
    assert idle.ecc.volatile_uncorrected is None
    assert idle.mig_enabled is None
    assert idle.persistence_mode is True
    # the old clocks_throttle_reasons name is read like the new one
    assert busy.throttle_reasons == ["sw_power_cap", "sw_thermal_slowdown"]
    assert (busy.ecc.volatile_uncorrected, busy.ecc.aggregate_uncorrected) == (2, 7)
    assert busy.ecc.volatile_corrected == 15
    assert busy.ecc.retired_pages == 1
    assert busy.ecc.retired_pages_pending is True
    assert busy.ecc.remapped_rows_pending is None  # [Not Supported]
    assert busy.mig_enabled is None  # [Requested functionality has been deprecated]
    assert (busy.power_draw_w, busy.power_limit_w, busy.power_max_limit_w) == (
        229.87,
        230.0,
        230.0,
    )
    assert (busy.clock_sm_mhz, busy.clock_sm_max_mhz, busy.clock_mem_mhz) == (1410, 2100, 7600)


def test_headerless_full_field_list(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_csv(nvsmi_fixture("csv_noheader_nounits_full.csv"), QUERY_GPU_FIELDS)
    assert report.driver_version == "570.86.15"
    cool, hot = report.gpus
    assert (cool.index, hot.index) == (0, 1)
    assert cool.compute_capability == "8.9"
    assert cool.fan_percent is None
    assert cool.clock_sm_mhz == 210  # requested as clocks.sm, nvidia-smi's alias
    assert hot.throttle_reasons == ["hw_thermal_slowdown"]
    assert (hot.ecc.volatile_uncorrected, hot.ecc.aggregate_uncorrected) == (1, 3)
    assert hot.ecc.retired_pages_pending is True
    assert hot.bus_id == "0000:ca:00.0"


def test_headerless_minimal_field_list(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_csv(nvsmi_fixture("csv_noheader_minimal.csv"), QUERY_GPU_FIELDS_MINIMAL)
    (gpu,) = report.gpus
    assert gpu.name == "Tesla P40"
    assert (gpu.architecture, gpu.compute_capability) == ("Pascal", "6.1")  # from the name
    assert gpu.throttle_reasons == ["gpu_idle"]
    assert gpu.persistence_mode is False
    assert gpu.mig_enabled is None


def test_header_row_wins_over_given_fields(nvsmi_fixture: Read) -> None:
    report = parse_nvsmi_csv(nvsmi_fixture("csv_header_units_2gpu.csv"), QUERY_GPU_FIELDS)
    assert [gpu.name for gpu in report.gpus] == ["NVIDIA RTX A5000", "NVIDIA RTX A5000"]


def test_values_with_and_without_units_agree() -> None:
    header = "name, memory.total [MiB], power.draw [W], fan.speed [%]\n"
    with_units = parse_nvsmi_csv(header + "NVIDIA A40, 46068 MiB, 69.85 W, 30 %\n")
    bare = parse_nvsmi_csv(header + "NVIDIA A40, 46068, 69.85, 30\n")
    assert with_units.gpus == bare.gpus
    assert with_units.gpus[0].power_draw_w == 69.85


def test_compute_apps(nvsmi_fixture: Read) -> None:
    processes = parse_compute_apps_csv(nvsmi_fixture("csv_compute_apps.csv"))
    assert [(key, p.pid, p.name, p.used_memory_mib) for key, p in processes] == [
        ("0000:41:00.0", 8812, "/opt/venv/bin/python", 23970),
        ("GPU-5e5e5e5e-0000-1111-2222-333344445555", 8813, "./worker", None),
    ]


def test_ragged_row_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="row 1 has 2 values for 3 columns"):
        parse_nvsmi_csv("name, uuid, index\nNVIDIA A40, GPU-1\n")


@pytest.mark.parametrize(
    ("text", "fields", "message"),
    [
        (
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
            None,
            "no nvidia-smi CSV header",
        ),
        ("", None, "empty"),
        ("", QUERY_GPU_FIELDS, "empty"),
        ('Field "compute_cap" is not a valid field to query.', QUERY_GPU_FIELDS, "row 1 has"),
        ("index, uuid\n0, GPU-1\n", None, "no 'name' column"),
    ],
)
def test_garbage_raises_parse_error(
    text: str, fields: tuple[str, ...] | None, message: str
) -> None:
    with pytest.raises(ParseError, match=message):
        parse_nvsmi_csv(text, fields)


def test_compute_apps_garbage_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="no 'pid' column"):
        parse_compute_apps_csv("name, uuid\nx, y\n")
    with pytest.raises(ParseError):
        parse_compute_apps_csv("No running processes found")


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(), headerless=st.sampled_from([None, QUERY_GPU_FIELDS, QUERY_GPU_FIELDS_MINIMAL])
)
def test_fuzz_returns_report_or_parse_error(
    data: st.DataObject,
    headerless: tuple[str, ...] | None,
    nvsmi_fuzz_texts: Callable[[Sequence[str]], st.SearchStrategy[str]],
) -> None:
    text = data.draw(nvsmi_fuzz_texts(SAMPLES))
    try:
        report = parse_nvsmi_csv(text, headerless)
    except ParseError:
        return
    assert isinstance(report, GpuReport)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_compute_apps_returns_list_or_parse_error(
    data: st.DataObject, nvsmi_fuzz_texts: Callable[[Sequence[str]], st.SearchStrategy[str]]
) -> None:
    text = data.draw(nvsmi_fuzz_texts(SAMPLES))
    try:
        processes = parse_compute_apps_csv(text)
    except ParseError:
        return
    assert isinstance(processes, list)
