"""lm-sensors text and JSON parsing: chips, kinds, units, limits and continuation lines."""

from __future__ import annotations

import json

import pytest

from moefleet.errors import ParseError
from moefleet.facts.model import SensorReading
from moefleet.facts.sensors import parse_sensors, parse_sensors_json
from tests.facts.system_helpers import assert_parses_or_raises_parse_error, fixture


def _by_label(readings):
    return {(reading.chip, reading.label): reading for reading in readings}


def test_chips_and_kinds():
    readings = parse_sensors(fixture("sensors_gpu_box.txt"))
    chips = {reading.chip for reading in readings}
    assert chips == {"k10temp-pci-00c3", "amdgpu-pci-0300", "nct6798-isa-0290", "nvme-pci-0100"}
    kinds = {r.label: r.kind for r in readings if r.chip == "amdgpu-pci-0300"}
    assert kinds == {
        "vddgfx": "voltage",
        "fan1": "fan",
        "edge": "temperature",
        "junction": "temperature",
        "mem": "temperature",
        "PPT": "power",
    }


def test_degree_sign_limits_and_continuation_line():
    edge = _by_label(parse_sensors(fixture("sensors_gpu_box.txt")))[("amdgpu-pci-0300", "edge")]
    assert edge == SensorReading(
        chip="amdgpu-pci-0300", label="edge", kind="temperature", value=58.0, unit="C",
        critical=100.0,
    )  # fmt: skip


def test_space_before_c_and_crit_on_the_next_line():
    composite = _by_label(parse_sensors(fixture("sensors_gpu_box.txt")))[
        ("nvme-pci-0100", "Composite")
    ]
    assert (composite.value, composite.unit, composite.high, composite.critical) == (
        41.9, "C", 84.8, 89.8,
    )  # fmt: skip


def test_fan_power_voltage_and_odd_lines():
    readings = _by_label(parse_sensors(fixture("sensors_gpu_box.txt")))
    fan = readings[("amdgpu-pci-0300", "fan1")]
    assert (fan.value, fan.unit, fan.high) == (1650.0, "RPM", 3300.0)
    ppt = readings[("amdgpu-pci-0300", "PPT")]
    assert (ppt.value, ppt.unit, ppt.high) == (187.0, "W", 300.0)
    assert readings[("amdgpu-pci-0300", "vddgfx")].unit == "mV"
    assert readings[("nct6798-isa-0290", "in0")].high == 1.74
    assert readings[("nct6798-isa-0290", "SYSTIN")].high == 80.0
    intrusion = readings[("nct6798-isa-0290", "intrusion0")]
    assert (intrusion.kind, intrusion.value) == ("other", None)
    missing = readings[("nct6798-isa-0290", "temp7")]
    assert (missing.kind, missing.value, missing.unit) == ("temperature", None, None)


def test_asterisk_degree_and_fahrenheit():
    text = "coretemp-isa-0000\nAdapter: ISA adapter\nCore 0: +31.0*C (high = +87.0*C)\nx: +90.0°F\n"
    readings = parse_sensors(text)
    assert [(r.label, r.value, r.unit, r.high) for r in readings] == [
        ("Core 0", 31.0, "C", 87.0),
        ("x", 90.0, "F", None),
    ]


def test_no_sensors_found_is_an_empty_list():
    assert parse_sensors("No sensors found!\nMake sure you loaded all the kernel drivers.\n") == []


@pytest.mark.parametrize("text", ["", "   \n", "temp1: +40.0°C\n"])
def test_unrecognisable_input_raises(text):
    with pytest.raises(ParseError, match="sensors"):
        parse_sensors(text)


def test_fuzz_sensors():
    assert_parses_or_raises_parse_error(parse_sensors, fixture("sensors_gpu_box.txt"), list)


SENSORS_JSON = json.dumps(
    {
        "amdgpu-pci-0300": {
            "Adapter": "PCI adapter",
            "edge": {"temp1_input": 58.0, "temp1_crit": 100.0, "temp1_crit_hyst": -273.15},
            "fan1": {"fan1_input": 1650.0, "fan1_min": 0.0, "fan1_max": 3300.0},
            "PPT": {"power1_average": 187.0, "power1_cap": 300.0},
            "vddgfx": {"in0_input": 0.825},
            "intrusion0": {"intrusion0_alarm": 1.0},
        }
    }
)


def test_sensors_json():
    readings = _by_label(parse_sensors_json(SENSORS_JSON))
    edge = readings[("amdgpu-pci-0300", "edge")]
    assert (edge.kind, edge.value, edge.unit, edge.critical) == ("temperature", 58.0, "C", 100.0)
    assert readings[("amdgpu-pci-0300", "fan1")].high == 3300.0
    ppt = readings[("amdgpu-pci-0300", "PPT")]
    assert (ppt.kind, ppt.value, ppt.high) == ("power", 187.0, 300.0)
    assert readings[("amdgpu-pci-0300", "vddgfx")].kind == "voltage"
    intrusion = readings[("amdgpu-pci-0300", "intrusion0")]
    assert (intrusion.kind, intrusion.value) == ("other", None)


@pytest.mark.parametrize("text", ["", "[1, 2]", "{not json", "NaN"])
def test_sensors_json_rejects_non_objects(text):
    with pytest.raises(ParseError, match="sensors -j"):
        parse_sensors_json(text)


def test_fuzz_sensors_json():
    assert_parses_or_raises_parse_error(parse_sensors_json, SENSORS_JSON, list)
