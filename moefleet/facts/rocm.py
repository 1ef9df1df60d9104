"""AMD GPUs from ``rocm-smi``: the default concise table and ``-a`` / ``--showallinfo`` text.

The concise table's columns vary between ROCm releases (``Temp (DieEdge)`` / ``AvgPwr`` in
5.x; ``Device [Model : Revision] Temp (Junction) Power (Socket) Partitions ...`` in 6.x, with
the model name on a second line per device), so columns are found by their header titles and
values are assigned to the column whose title starts at or before them (rocm-smi left-aligns).
The detailed output prints one ``GPU[i]  : Key: value`` line per fact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from moefleet.errors import ParseError
from moefleet.facts.model import GpuFacts, GpuReport
from moefleet.facts.values import normalize_bus_id, parse_float

_BANNER = "ROCm System Management Interface"
_CELL = re.compile(r"\S+(?: \S+)*")
_CONCISE_HEADER = re.compile(r"^\s*(?:Device|GPU)\s{2,}.*\bTemp", re.IGNORECASE)
_DATA_ROW = re.compile(r"^\s*(\d{1,4})\s{2,}\S")
_DETAIL = re.compile(r"^GPU\[(\d{1,4})\]\s*:\s*(.*)$")
_DRIVER = re.compile(r"^\s*Driver version:\s*(\S+)", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[=\-]{5,}")
_PERCENT_IN_PARENS = re.compile(r"\((\d{1,3}(?:\.\d+)?)%\)")
_MHZ_IN_PARENS = re.compile(r"\((\d{1,6})\s*Mhz\)", re.IGNORECASE)
_UNSET_NAME = ""


def parse_rocm_smi(text: str) -> GpuReport:
    """GpuReport (source 'rocm-smi', vendor 'amd') from concise or ``-a`` rocm-smi output."""
    if not text.strip():
        raise ParseError("empty rocm-smi output; expected the ROCm System Management Interface")
    lines = text.splitlines()
    gpus: dict[int, GpuFacts] = {}
    found_table = _parse_concise(lines, gpus)
    found_details = _parse_details(lines, gpus)
    if not (found_table or found_details or _BANNER in text):
        raise ParseError("not rocm-smi output: no concise table, 'GPU[i] : ...' lines or banner")
    for gpu in gpus.values():
        if gpu.name == _UNSET_NAME:
            gpu.name = "AMD GPU"
    return GpuReport(
        source="rocm-smi",
        driver_version=_driver_version(lines),
        gpus=[gpus[index] for index in sorted(gpus)],
        warnings=[line.strip() for line in lines if line.strip().upper().startswith("WARNING:")],
    )


def _gpu(gpus: dict[int, GpuFacts], index: int) -> GpuFacts:
    if index not in gpus:
        gpus[index] = GpuFacts(index=index, vendor="amd", name=_UNSET_NAME)
    return gpus[index]


def _driver_version(lines: list[str]) -> str | None:
    for line in lines:
        match = _DRIVER.match(line)
        if match:
            return match.group(1)
    return None


def _cells(line: str) -> list[tuple[int, str]]:
    """(start column, text) of each cell; cells are separated by two or more spaces."""
    return [(match.start(), match.group()) for match in _CELL.finditer(line)]


def _parse_concise(lines: list[str], gpus: dict[int, GpuFacts]) -> bool:
    """Fill gpus from the concise table; True when it had at least one device row."""
    header_at = next((i for i, line in enumerate(lines) if _CONCISE_HEADER.match(line)), None)
    if header_at is None:
        return False
    columns = [(start, title.lower()) for start, title in _cells(lines[header_at])]
    has_names = any("name" in line.lower() for line in lines[header_at + 1 : header_at + 3])
    current: GpuFacts | None = None
    found = False
    for line in lines[header_at + 1 :]:
        if _SEPARATOR.match(line.strip()) and current is not None:
            break
        row = _DATA_ROW.match(line)
        if row:
            current, found = _gpu(gpus, int(row.group(1))), True
            _apply_row(current, _row_values(columns, line))
        elif current is not None and has_names and line.strip() and current.name == _UNSET_NAME:
            current.name = line.strip()
    return found


def _row_values(columns: list[tuple[int, str]], line: str) -> dict[str, str]:
    """Column title -> cell text, each cell going to the last column starting at or before it."""
    values: dict[str, str] = {}
    for start, text in _cells(line):
        owners = [title for column_start, title in columns if column_start <= start]
        if owners:
            title = owners[-1]
            values[title] = f"{values[title]} {text}" if title in values else text
    return values


def _float(value: str | None) -> float | None:
    """The first number in ``value``; None also for overlong digit runs (which parse as inf)."""
    number = parse_float(value)
    return number if number is not None and math.isfinite(number) else None


def _int(value: str | None) -> int | None:
    number = _float(value)
    return round(number) if number is not None else None


#: Concise column title prefix -> GpuFacts attribute and the parser of its cells.
_CONCISE_FIELDS: tuple[tuple[str, str, Callable[[str | None], float | int | None]], ...] = (
    ("temp", "temperature_c", _float),
    ("power", "power_draw_w", _float),
    ("avgpwr", "power_draw_w", _float),
    ("pwrcap", "power_limit_w", _float),
    ("fan", "fan_percent", _float),
    ("gpu%", "utilization_percent", _float),
    ("sclk", "clock_sm_mhz", _int),
    ("mclk", "clock_mem_mhz", _int),
)


def _apply_row(gpu: GpuFacts, values: dict[str, str]) -> None:
    for title, value in values.items():
        for prefix, attribute, parse in _CONCISE_FIELDS:
            if title.startswith(prefix) and re.search(r"\d", value):
                setattr(gpu, attribute, parse(value))
                break


def _parse_details(lines: list[str], gpus: dict[int, GpuFacts]) -> bool:
    """Fill gpus from 'GPU[i] : Key: value' lines; True when there were any."""
    names: dict[int, dict[str, str]] = {}
    found = False
    for line in lines:
        match = _DETAIL.match(line.strip())
        if match is None:
            continue
        found = True
        index = int(match.group(1))
        key, _, value = match.group(2).partition(": ")
        key, value = key.strip().lower(), value.strip()
        gpu = _gpu(gpus, index)
        if key in ("marketing name", "card series", "device name", "card model", "device id"):
            names.setdefault(index, {})[key] = value
        else:
            _apply_detail(gpu, key, value)
    for index, found_names in names.items():
        _apply_name(gpus[index], found_names)
    return found


def _apply_name(gpu: GpuFacts, names: dict[str, str]) -> None:
    """Best name: marketing name, card series, then the concise name, then the device id."""
    for key in ("marketing name", "card series", "device name"):
        if names.get(key) and not names[key].lower().startswith("n/a"):
            gpu.name = names[key]
            return
    device_id = names.get("device id") or names.get("card model")
    if gpu.name == _UNSET_NAME and device_id:
        gpu.name = f"AMD GPU {device_id}"


_DETAIL_FLOATS = {
    "temperature (sensor edge) (c)": "temperature_c",
    "temperature (sensor memory) (c)": "memory_temperature_c",
    "gpu use (%)": "utilization_percent",
}
_JUNCTION = "temperature (sensor junction) (c)"


def _apply_detail(gpu: GpuFacts, key: str, value: str) -> None:
    """One detailed fact; unknown keys are ignored. Edge temperature wins over junction."""
    if key in _DETAIL_FLOATS:
        setattr(gpu, _DETAIL_FLOATS[key], _float(value))
    elif key == _JUNCTION:
        gpu.temperature_c = gpu.temperature_c if gpu.temperature_c is not None else _float(value)
    elif key.startswith("max graphics package power"):
        gpu.power_limit_w = _float(value)
    elif "graphics package power" in key:
        gpu.power_draw_w = _float(value)
    elif key == "pci bus":
        gpu.bus_id = normalize_bus_id(value)
    elif key == "unique id" and not value.lower().startswith("n/a"):
        gpu.uuid = value
    elif key.startswith("fan level") or key == "fan speed (%)":
        percent = _PERCENT_IN_PARENS.search(value)
        gpu.fan_percent = float(percent.group(1)) if percent else _float(value)
    else:
        _apply_memory_or_clock(gpu, key, value)


def _apply_memory_or_clock(gpu: GpuFacts, key: str, value: str) -> None:
    if key == "vram total memory (b)":
        gpu.memory_total_mib = _bytes_to_mib(value)
    elif key == "vram total used memory (b)":
        gpu.memory_used_mib = _bytes_to_mib(value)
    elif key in ("sclk clock level", "mclk clock level"):
        mhz = _MHZ_IN_PARENS.search(value)
        if mhz and key.startswith("sclk"):
            gpu.clock_sm_mhz = int(mhz.group(1))
        elif mhz:
            gpu.clock_mem_mhz = int(mhz.group(1))
    elif key == "valid sclk range":
        top = re.findall(r"(\d{1,6})\s*Mhz", value, re.IGNORECASE)
        gpu.clock_sm_max_mhz = int(top[-1]) if top else None


def _bytes_to_mib(value: str) -> int | None:
    digits = value.strip()
    return int(digits) // 2**20 if re.fullmatch(r"\d{1,20}", digits) else None
