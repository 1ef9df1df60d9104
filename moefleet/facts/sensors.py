"""hwmon readings from lm-sensors: ``sensors`` (default text) and ``sensors -j`` (JSON).

Text layout (lm-sensors ``prog/sensors/chips.c``): a chip name line (``k10temp-pci-00c3``), an
``Adapter:`` line, then ``label:  value unit  (limit = value unit, ...)`` lines; limits that do
not fit go on an indented ``(crit = ...)`` line below. The degree sign may arrive as ``°C``,
``*C`` (hw-probe) or `` C`` (when it was dropped), all read as Celsius.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from moefleet.errors import ParseError
from moefleet.facts.model import SensorReading

SensorKind = Literal["temperature", "fan", "power", "voltage", "other"]

_NUMBER = r"[+-]?\d{1,9}(?:\.\d{1,6})?"
_READING = re.compile(r"^(?P<label>\S[^:]*?):\s*(?P<rest>.*)$")
_VALUE = re.compile(rf"^(?P<value>{_NUMBER})\s?(?P<unit>[^\s(]*)")
# limit names are one or two words: high, crit, crit low, crit hyst, emerg, cap...
_LIMIT = re.compile(rf"(?P<name>[A-Za-z]{{1,20}}(?: [A-Za-z]{{1,20}})?)\s*=\s*(?P<value>{_NUMBER})")
_KIND_BY_UNIT: dict[str, SensorKind] = {
    "C": "temperature",
    "F": "temperature",
    "RPM": "fan",
    "W": "power",
    "mW": "power",
    "kW": "power",
    "uW": "power",
    "V": "voltage",
    "mV": "voltage",
}
_KIND_BY_PREFIX: dict[str, SensorKind] = {
    "temp": "temperature",
    "fan": "fan",
    "power": "power",
    "in": "voltage",
}
_NO_SENSORS = "No sensors found!"
_NOT_READINGS = ("Adapter", "ERROR")


def parse_sensors(text: str) -> list[SensorReading]:
    """Every reading of every chip in ``sensors`` output (``[]`` for 'No sensors found!')."""
    if not text.strip():
        raise ParseError("empty sensors output; expected chip blocks with 'Adapter:' lines")
    if text.strip().startswith(_NO_SENSORS):
        return []
    readings: list[SensorReading] = []
    chip: str | None = None
    chips = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            if readings and chip is not None and line.strip().startswith("("):
                _apply_limits(readings[-1], line)
            continue
        match = _READING.match(line)
        if match is None:
            chip, chips = line.strip(), chips + 1
        elif chip is not None and match.group("label") not in _NOT_READINGS:
            readings.append(_reading(chip, match.group("label"), match.group("rest")))
    if chips == 0:
        raise ParseError("not sensors output: no chip name line (e.g. 'coretemp-isa-0000')")
    return readings


def _reading(chip: str, label: str, rest: str) -> SensorReading:
    """One 'label: value unit (limits)' line."""
    match = _VALUE.match(rest.strip())
    unit = _unit(match.group("unit")) if match else None
    reading = SensorReading(
        chip=chip,
        label=label.strip(),
        kind=_kind(label, unit),
        value=float(match.group("value")) if match else None,
        unit=unit,
    )
    _apply_limits(reading, rest)
    return reading


def _apply_limits(reading: SensorReading, text: str) -> None:
    """high/max/cap -> high, crit -> critical, from '(high = +80.0°C, crit = +100.0°C)'."""
    start = text.find("(")
    if start < 0:
        return
    limits = {
        m.group("name").strip().lower(): m.group("value") for m in _LIMIT.finditer(text[start:])
    }
    high = limits.get("high") or limits.get("max") or limits.get("cap")
    if high is not None:
        reading.high = float(high)
    if "crit" in limits:
        reading.critical = float(limits["crit"])


def _unit(raw: str) -> str | None:
    """'°C', '*C', 'Â°C', 'C' -> 'C'; other units as printed; '' -> None."""
    cleaned = raw.lstrip("°*Âº")
    if cleaned in ("C", "F"):
        return cleaned
    return raw or None


def _kind(label: str, unit: str | None) -> SensorKind:
    if unit is not None:
        return _KIND_BY_UNIT.get(unit, "other")
    name = label.strip().lower()
    for prefix, kind in _KIND_BY_PREFIX.items():
        if re.fullmatch(rf"{prefix}\d+", name):
            return kind
    return "other"


_JSON_KINDS: dict[str, tuple[SensorKind, str | None]] = {
    "temp": ("temperature", "C"),
    "fan": ("fan", "RPM"),
    "power": ("power", "W"),
    "in": ("voltage", "V"),
    "curr": ("other", "A"),
    "energy": ("other", "J"),
    "humidity": ("other", "%"),
}


def parse_sensors_json(text: str) -> list[SensorReading]:
    """Readings from ``sensors -j``: {chip: {"Adapter": ..., label: {"temp1_input": v, ...}}}."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"sensors -j output is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ParseError("sensors -j output is not a JSON object of chips")
    readings = []
    for chip, features in document.items():
        if not isinstance(features, dict):
            continue
        for label, values in features.items():
            if isinstance(values, dict):
                readings.append(_json_reading(str(chip), str(label), values))
    return readings


def _json_reading(chip: str, label: str, values: dict[str, Any]) -> SensorReading:
    """One feature: its subfeatures are '<prefix><n>_<item>' (temp1_input, power1_average)."""
    numbers = {
        key.partition("_")[2]: float(value)
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }
    prefix_match = re.match(r"[a-z]+", next(iter(values), ""))
    kind, unit = _JSON_KINDS.get(prefix_match.group() if prefix_match else "", ("other", None))
    value = numbers.get("input", numbers.get("average"))
    return SensorReading(
        chip=chip,
        label=label,
        kind=kind,
        value=value,
        unit=unit if value is not None else None,
        high=numbers.get("max", numbers.get("cap")),
        critical=numbers.get("crit"),
    )
