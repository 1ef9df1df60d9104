"""Parse ``nvidia-smi --query-gpu=... --format=csv`` and ``--query-compute-apps`` output.

Field names are nvidia-smi's (``nvidia-smi --help-query-gpu``); the header row echoes them with
the unit in brackets ("memory.used [MiB]"). Without ``nounits`` the values carry units too
("81559 MiB", "69.85 W"). ``clocks_event_reasons.active`` (called ``clocks_throttle_reasons``
before driver 535) is a hex bitmask of NVML's ``nvmlClocksEventReason*`` constants, whose values
are listed in the NVML API reference ("NvmlClocksThrottleReasons": GpuIdle 0x1,
ApplicationsClocksSetting 0x2, SwPowerCap 0x4, HwSlowdown 0x8, SyncBoost 0x10,
SwThermalSlowdown 0x20, HwThermalSlowdown 0x40, HwPowerBrakeSlowdown 0x80,
DisplayClockSetting 0x100).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from moefleet.errors import ParseError
from moefleet.facts.gpu_names import lookup_gpu
from moefleet.facts.model import (
    THROTTLE_REASONS,
    EccFacts,
    GpuFacts,
    GpuProcess,
    GpuReport,
    PcieLink,
)
from moefleet.facts.values import (
    is_not_available,
    normalize_bus_id,
    parse_bool,
    parse_float,
    parse_int,
    parse_mib,
    parse_version,
    sum_known,
)

#: What moefleet asks for in its CSV fallback (drivers >= 535: compute_cap and the
#: clocks_event_reasons name are newer). ``clocks.sm`` is nvidia-smi's alias of
#: ``clocks.current.sm``.
QUERY_GPU_FIELDS: tuple[str, ...] = (
    "index",
    "name",
    "uuid",
    "pci.bus_id",
    "driver_version",
    "memory.total",
    "memory.used",
    "memory.free",
    "compute_cap",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
    "temperature.gpu",
    "temperature.memory",
    "fan.speed",
    "power.draw",
    "power.limit",
    "pstate",
    "utilization.gpu",
    "clocks.sm",
    "clocks.max.sm",
    "clocks_event_reasons.active",
    "ecc.errors.uncorrected.volatile.total",
    "ecc.errors.uncorrected.aggregate.total",
    "retired_pages.pending",
    "persistence_mode",
    "mig.mode.current",
    "power.default_limit",
)

#: The retry list: only fields that drivers since ~440 know (no compute_cap,
#: temperature.memory or mig.mode; the pre-535 name of the clock event reasons).
QUERY_GPU_FIELDS_MINIMAL: tuple[str, ...] = (
    "index",
    "name",
    "uuid",
    "pci.bus_id",
    "driver_version",
    "memory.total",
    "memory.used",
    "memory.free",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
    "temperature.gpu",
    "fan.speed",
    "power.draw",
    "power.limit",
    "pstate",
    "utilization.gpu",
    "clocks.sm",
    "clocks.max.sm",
    "clocks_throttle_reasons.active",
    "ecc.errors.uncorrected.volatile.total",
    "ecc.errors.uncorrected.aggregate.total",
    "retired_pages.pending",
    "persistence_mode",
    "power.default_limit",
)

#: NVML bit of each clock event reason (nvml.h ``nvmlClocksEventReason*``).
EVENT_REASON_BITS: dict[str, int] = {
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

#: Other spellings of a field that nvidia-smi accepts (and echoes in the header).
_ALIASES = {
    "gpu_name": "name",
    "gpu_bus_id": "pci.bus_id",
    "gpu_uuid": "uuid",
    "clocks.gr": "clocks.current.graphics",
    "clocks.sm": "clocks.current.sm",
    "clocks.mem": "clocks.current.memory",
    "clocks.video": "clocks.current.video",
    "clocks.max.gr": "clocks.max.graphics",
    "clocks.max.mem": "clocks.max.memory",
    "used_memory": "used_gpu_memory",
}
_FIELD_NAME = re.compile(r"^[a-z_][\w.]*$")
_KEY_FIELDS = {"name", "uuid", "index", "pci.bus_id", "pid", "driver_version"}
_REASON_SPELLINGS = {"idle": "gpu_idle", "display_clocks_setting": "display_clock_setting"}


def canonical_reason(raw: str) -> str | None:
    """A clock event reason name from any source ('Display Clock Setting', 'idle') or None."""
    name = re.sub(r"[\s-]+", "_", raw.strip().lower())
    name = _REASON_SPELLINGS.get(name, name)
    return name if name in THROTTLE_REASONS else None


def decode_event_reasons(mask: int) -> list[str]:
    """The active reasons in an NVML clock event reason bitmask, in THROTTLE_REASONS order."""
    return [name for name in THROTTLE_REASONS if mask & EVENT_REASON_BITS[name]]


def _canonical_field(header_cell: str) -> str:
    """'memory.used [MiB]' -> 'memory.used'; aliases and the pre-535 reason name resolved."""
    name = header_cell.split("[", 1)[0].strip().lower()
    name = _ALIASES.get(name, name)
    return name.replace("clocks_throttle_reasons.", "clocks_event_reasons.")


def _rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split(",")] for line in text.splitlines() if line.strip()
    ]


def _is_header(names: list[str], expected: bool) -> bool:
    """Whether a first row names fields; when a header is optional it must name a key field."""
    if not all(_FIELD_NAME.match(name) for name in names):
        return False
    return expected or bool(_KEY_FIELDS & set(names))


def _table(text: str, fields: Sequence[str] | None) -> tuple[list[str], list[list[str]]]:
    """(canonical column names, data rows): the text's own header row wins over ``fields``."""
    rows = _rows(text)
    if not rows:
        raise ParseError("nvidia-smi CSV output is empty")
    first = [_canonical_field(cell) for cell in rows[0]]
    if _is_header(first, expected=fields is None):
        return first, rows[1:]
    if fields is None:
        raise ParseError(f"no nvidia-smi CSV header row; it starts {rows[0][0][:60]!r}")
    return [_canonical_field(field) for field in fields], rows


def _records(text: str, fields: Sequence[str] | None) -> list[dict[str, str]]:
    columns, rows = _table(text, fields)
    records = []
    for number, row in enumerate(rows, start=1):
        if len(row) != len(columns):
            raise ParseError(
                f"nvidia-smi CSV row {number} has {len(row)} values for {len(columns)} columns"
            )
        records.append(dict(zip(columns, row, strict=True)))
    return records


def _first(record: dict[str, str], *names: str) -> str | None:
    """The first of ``names`` that the record holds a value for."""
    for name in names:
        value = record.get(name)
        if not is_not_available(value):
            return value
    return None


def _reasons(record: dict[str, str]) -> list[str]:
    mask = _first(record, "clocks_event_reasons.active")
    if mask is not None:
        try:
            return decode_event_reasons(int(mask.strip(), 16))
        except ValueError:
            pass
    active = {
        canonical_reason(key.removeprefix("clocks_event_reasons."))
        for key, value in record.items()
        if key.startswith("clocks_event_reasons.") and value.strip().lower() == "active"
    }
    return [name for name in THROTTLE_REASONS if name in active]


def _ecc(record: dict[str, str]) -> EccFacts:
    retired = sum_known(
        [
            parse_int(record.get("retired_pages.single_bit_ecc.count")),
            parse_int(record.get("retired_pages.double_bit.count")),
        ]
    )
    return EccFacts(
        enabled=parse_bool(record.get("ecc.mode.current")),
        volatile_uncorrected=parse_int(record.get("ecc.errors.uncorrected.volatile.total")),
        aggregate_uncorrected=parse_int(record.get("ecc.errors.uncorrected.aggregate.total")),
        volatile_corrected=parse_int(record.get("ecc.errors.corrected.volatile.total")),
        aggregate_corrected=parse_int(record.get("ecc.errors.corrected.aggregate.total")),
        retired_pages=retired,
        retired_pages_pending=parse_bool(record.get("retired_pages.pending")),
        remapped_rows_pending=parse_bool(record.get("remapped_rows.pending")),
        remapped_rows_failure=parse_bool(record.get("remapped_rows.failure")),
    )


def _index(record: dict[str, str], position: int) -> int:
    index = parse_int(record.get("index"))
    return index if index is not None else position


def _gpu(record: dict[str, str], position: int) -> GpuFacts:
    name = _first(record, "name") or ""
    architecture, capability = lookup_gpu(name)
    return GpuFacts(
        index=_index(record, position),
        name=name,
        uuid=_first(record, "uuid"),
        bus_id=normalize_bus_id(record.get("pci.bus_id")),
        architecture=architecture,
        compute_capability=parse_version(record.get("compute_cap")) or capability,
        memory_total_mib=parse_mib(record.get("memory.total")),
        memory_used_mib=parse_mib(record.get("memory.used")),
        memory_free_mib=parse_mib(record.get("memory.free")),
        memory_reserved_mib=parse_mib(record.get("memory.reserved")),
        pcie=PcieLink(
            gen_current=parse_int(record.get("pcie.link.gen.current")),
            gen_max=parse_int(record.get("pcie.link.gen.max")),
            width_current=parse_int(record.get("pcie.link.width.current")),
            width_max=parse_int(record.get("pcie.link.width.max")),
        ),
        temperature_c=parse_float(record.get("temperature.gpu")),
        memory_temperature_c=parse_float(record.get("temperature.memory")),
        fan_percent=parse_float(record.get("fan.speed")),
        power_draw_w=parse_float(
            _first(record, "power.draw", "power.draw.average", "power.draw.instant")
        ),
        power_limit_w=parse_float(_first(record, "enforced.power.limit", "power.limit")),
        power_max_limit_w=parse_float(record.get("power.max_limit")),
        power_default_limit_w=parse_float(record.get("power.default_limit")),
        pstate=_first(record, "pstate"),
        utilization_percent=parse_float(record.get("utilization.gpu")),
        clock_sm_mhz=parse_int(record.get("clocks.current.sm")),
        clock_sm_max_mhz=parse_int(record.get("clocks.max.sm")),
        clock_mem_mhz=parse_int(record.get("clocks.current.memory")),
        throttle_reasons=_reasons(record),
        ecc=_ecc(record),
        persistence_mode=parse_bool(record.get("persistence_mode")),
        mig_enabled=parse_bool(record.get("mig.mode.current")),
    )


def _report(text: str, fields: Sequence[str] | None) -> GpuReport:
    records = _records(text, fields)
    if records and "name" not in records[0]:
        raise ParseError("nvidia-smi CSV has no 'name' column")
    driver = next(
        (v for r in records if (v := parse_version(_first(r, "kmd_version", "driver_version")))),
        None,
    )
    return GpuReport(
        source="nvidia-smi-csv",
        driver_version=driver,
        gpus=[_gpu(record, position) for position, record in enumerate(records)],
    )


def parse_nvsmi_csv(text: str, fields: Sequence[str] | None = None) -> GpuReport:
    """GPUs from ``--query-gpu`` CSV: with a header row, or headerless when ``fields`` is given."""
    try:
        return _report(text, fields)
    except (ValueError, OverflowError) as exc:  # pydantic's ValidationError is a ValueError
        raise ParseError(f"nvidia-smi CSV: unusable value ({exc})"[:300]) from exc


def _processes(text: str) -> list[tuple[str, GpuProcess]]:
    records = _records(text, None)
    if records and "pid" not in records[0]:
        raise ParseError("nvidia-smi compute-apps CSV has no 'pid' column")
    processes = []
    for record in records:
        pid = parse_int(record.get("pid"))
        key = normalize_bus_id(record.get("pci.bus_id")) or _first(record, "uuid")
        if pid is None or key is None:
            continue
        process = GpuProcess(
            pid=pid,
            name=_first(record, "process_name") or "",
            used_memory_mib=parse_mib(record.get("used_gpu_memory")),
        )
        processes.append((key, process))
    return processes


def parse_compute_apps_csv(text: str) -> list[tuple[str, GpuProcess]]:
    """Processes from ``--query-compute-apps`` CSV (header row required), each keyed by its
    GPU's normalised bus id, or by the GPU UUID when the bus id is missing."""
    try:
        return _processes(text)
    except (ValueError, OverflowError) as exc:
        raise ParseError(f"nvidia-smi compute-apps CSV: unusable value ({exc})"[:300]) from exc
