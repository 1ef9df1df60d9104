"""Parse ``nvidia-smi -q`` (the indented "Key : Value" report).

The text is first read into a tree by indentation (a key may have a value *and* children, e.g.
"HW Slowdown" holds "HW Thermal Slowdown"; keys repeat, e.g. "MIG Device"), then read by path
with case-insensitive keys ("Ecc Mode" in 4xx drivers, "ECC Mode" later). Section and key names
are nvidia-smi's own as seen in real outputs: "Clocks Throttle Reasons" (< 535) vs "Clocks Event
Reasons", "Power Readings" vs "GPU Power Readings" (535+), "PCIe Generation" Max/Current/Device
Current/Device Max/Host Max, ECC "Single Bit"/"Double Bit" totals (pre-Ampere) vs "SRAM"/"DRAM"
counters. "... T.Limit Temp" values are offsets from the T.Limit, not absolute thresholds, and
are not read. Drivers 610+ mark "Driver Version"/"CUDA Version" deprecated in favour of
"KMD Version"/"CUDA UMD Version", which are preferred when present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from moefleet.errors import ParseError
from moefleet.facts.gpu_names import lookup_gpu
from moefleet.facts.model import (
    THROTTLE_REASONS,
    EccFacts,
    GpuFacts,
    GpuProcess,
    GpuReport,
    MigDevice,
    PcieLink,
)
from moefleet.facts.nvsmi_csv import canonical_reason
from moefleet.facts.values import (
    absolute_from_tlimit,
    is_not_available,
    normalize_bus_id,
    parse_bool,
    parse_float,
    parse_int,
    parse_mib,
    parse_version,
    sum_known,
)

_GPU_HEADER = re.compile(r"^GPU\s+([0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\.[0-7])\s*$")


@dataclass
class _Node:
    """One line of the report: its key, its value (None for a section) and indented children."""

    key: str
    value: str | None
    indent: int
    children: list[_Node] = field(default_factory=list)


def _norm(key: str) -> str:
    return " ".join(key.lower().split())


def _split(line: str) -> tuple[str, str | None]:
    """'Bus Id    : 0000:01:00.0' -> ('Bus Id', '0000:01:00.0'); a section -> (key, None)."""
    stripped = line.strip()
    at = stripped.find(" : ")
    if at >= 0:
        return stripped[:at].strip(), stripped[at + 3 :].strip()
    if stripped.endswith(" :"):
        return stripped[:-2].strip(), ""
    return stripped, None


def _tree(text: str) -> _Node:
    root = _Node("", None, -1)
    stack = [root]
    for raw in text.expandtabs(4).splitlines():
        if not raw.strip() or raw.strip().startswith("====="):
            continue
        key, value = _split(raw)
        node = _Node(key, value, len(raw) - len(raw.lstrip(" ")))
        while stack[-1].indent >= node.indent:
            stack.pop()
        stack[-1].children.append(node)
        stack.append(node)
    return root


def _find(node: _Node | None, *path: str) -> _Node | None:
    for key in path:
        if node is None:
            return None
        wanted = _norm(key)
        node = next((child for child in node.children if _norm(child.key) == wanted), None)
    return node


def _value(node: _Node | None, *path: str) -> str | None:
    found = _find(node, *path)
    if found is None or is_not_available(found.value):
        return None
    return found.value


def _first(node: _Node | None, *paths: tuple[str, ...]) -> str | None:
    for path in paths:
        value = _value(node, *path)
        if value is not None:
            return value
    return None


def _descendants(node: _Node) -> list[_Node]:
    """Every node below ``node``, depth first (iterative: fuzzed input can nest deeply)."""
    found: list[_Node] = []
    pending = list(reversed(node.children))
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(reversed(current.children))
    return found


def _pcie(gpu: _Node) -> PcieLink:
    gen = _find(gpu, "PCI", "GPU Link Info", "PCIe Generation")
    width = _find(gpu, "PCI", "GPU Link Info", "Link Width")
    return PcieLink(
        gen_current=parse_int(_first(gen, ("Current",), ("Device Current",))),
        gen_max=parse_int(_first(gen, ("Max",), ("Device Max",))),
        width_current=parse_int(_value(width, "Current")),
        width_max=parse_int(_value(width, "Max")),
    )


def _reasons(gpu: _Node) -> list[str]:
    section = _find(gpu, "Clocks Event Reasons") or _find(gpu, "Clocks Throttle Reasons")
    if section is None:
        return []
    active = {
        canonical_reason(node.key)
        for node in _descendants(section)
        if (node.value or "").strip().lower() == "active"
    }
    return [name for name in THROTTLE_REASONS if name in active]


def _ecc_counts(scope: _Node | None, kind: str) -> int | None:
    """Sum of a scope's (Volatile/Aggregate) uncorrectable or correctable counters."""
    if scope is None:
        return None
    old_style = _find(scope, "Double Bit" if kind == "uncorrectable" else "Single Bit")
    if old_style is not None:
        return parse_int(_value(old_style, "Total"))
    return sum_known(
        [
            parse_int(child.value)
            for child in scope.children
            if kind in _norm(child.key)
            and (kind == "uncorrectable" or "uncorrectable" not in _norm(child.key))
        ]
    )


def _any_true(values: list[str | None]) -> bool | None:
    flags = [flag for flag in map(parse_bool, values) if flag is not None]
    return any(flags) if flags else None


def _ecc(gpu: _Node) -> EccFacts:
    volatile = _find(gpu, "ECC Errors", "Volatile")
    aggregate = _find(gpu, "ECC Errors", "Aggregate")
    retired = _find(gpu, "Retired Pages")
    pending = ("Pending Page Blacklist", "Pending Page Retirement", "Pending")
    return EccFacts(
        enabled=parse_bool(_value(gpu, "ECC Mode", "Current")),
        volatile_uncorrected=_ecc_counts(volatile, "uncorrectable"),
        aggregate_uncorrected=_ecc_counts(aggregate, "uncorrectable"),
        volatile_corrected=_ecc_counts(volatile, "correctable"),
        aggregate_corrected=_ecc_counts(aggregate, "correctable"),
        retired_pages=sum_known(
            [
                parse_int(_first(retired, ("Single Bit ECC",), ("Single Bit ECC", "Count"))),
                parse_int(_first(retired, ("Double Bit ECC",), ("Double Bit ECC", "Count"))),
            ]
        ),
        retired_pages_pending=_any_true([_value(retired, key) for key in pending]),
        remapped_rows_pending=parse_bool(_value(gpu, "Remapped Rows", "Pending")),
        remapped_rows_failure=parse_bool(
            _value(gpu, "Remapped Rows", "Remapping Failure Occurred")
        ),
    )


def _mig_devices(gpu: _Node) -> list[MigDevice]:
    holders = [gpu, *(n for n in gpu.children if _norm(n.key) == "mig devices")]
    devices = [n for holder in holders for n in holder.children if _norm(n.key) == "mig device"]
    return [
        MigDevice(
            gpu_instance_id=parse_int(_value(device, "GPU Instance ID")),
            compute_instance_id=parse_int(_value(device, "Compute Instance ID")),
            profile=_value(device, "Profile"),
            uuid=_value(device, "UUID"),
            memory_total_mib=parse_mib(
                _first(device, ("Shared FB Memory Usage", "Total"), ("FB Memory Usage", "Total"))
            ),
            memory_used_mib=parse_mib(
                _first(device, ("Shared FB Memory Usage", "Used"), ("FB Memory Usage", "Used"))
            ),
        )
        for device in devices
    ]


def _processes(gpu: _Node) -> list[GpuProcess]:
    section = _find(gpu, "Processes")
    if section is None:
        return []
    processes = []
    for node in section.children:
        pid = parse_int(node.value) if _norm(node.key) == "process id" else None
        if pid is not None:
            processes.append(
                GpuProcess(
                    pid=pid,
                    name=_value(node, "Name") or "",
                    used_memory_mib=parse_mib(_value(node, "Used GPU Memory")),
                    type=_value(node, "Type"),
                )
            )
    return processes


def _power(gpu: _Node) -> tuple[float | None, ...]:
    """(draw, enforced limit, max limit, default limit) in watts."""
    readings = _find(gpu, "GPU Power Readings") or _find(gpu, "Power Readings")
    draw = _first(readings, ("Power Draw",), ("Average Power Draw",), ("Instantaneous Power Draw",))
    limit = _first(
        readings,
        ("Enforced Power Limit",),
        ("Current Power Limit",),
        ("Power Limit",),
        ("GPU Ceiling Power Limit", "Current Power Limit"),  # 610+
    )
    default = _first(
        readings, ("Default Power Limit",), ("GPU Ceiling Power Limit", "Default Power Limit")
    )
    return (
        parse_float(draw),
        parse_float(limit),
        parse_float(_value(readings, "Max Power Limit")),
        parse_float(default),
    )


def _threshold(gpu: _Node, absolute: str, offset: str) -> float | None:
    """An absolute temperature threshold, or one derived from the T.Limit readings."""
    value = parse_float(_value(gpu, "Temperature", absolute))
    if value is not None:
        return value
    return absolute_from_tlimit(
        parse_float(_value(gpu, "Temperature", "GPU Current Temp")),
        parse_float(_value(gpu, "Temperature", "GPU T.Limit Temp")),
        parse_float(_value(gpu, "Temperature", offset)),
    )


def _gpu(gpu: _Node, index: int, bus_id: str) -> GpuFacts:
    name = _value(gpu, "Product Name")
    if name is None:
        raise ParseError(f"nvidia-smi -q: GPU {bus_id} has no 'Product Name'")
    architecture, capability = lookup_gpu(name)
    draw, limit, max_limit, default_limit = _power(gpu)
    return GpuFacts(
        index=index,
        name=name,
        uuid=_value(gpu, "GPU UUID"),
        bus_id=normalize_bus_id(_value(gpu, "PCI", "Bus Id") or bus_id),
        architecture=_value(gpu, "Product Architecture") or architecture,
        compute_capability=capability,
        memory_total_mib=parse_mib(_value(gpu, "FB Memory Usage", "Total")),
        memory_used_mib=parse_mib(_value(gpu, "FB Memory Usage", "Used")),
        memory_free_mib=parse_mib(_value(gpu, "FB Memory Usage", "Free")),
        memory_reserved_mib=parse_mib(_value(gpu, "FB Memory Usage", "Reserved")),
        pcie=_pcie(gpu),
        temperature_c=parse_float(_value(gpu, "Temperature", "GPU Current Temp")),
        memory_temperature_c=parse_float(_value(gpu, "Temperature", "Memory Current Temp")),
        temperature_slowdown_c=_threshold(gpu, "GPU Slowdown Temp", "GPU Slowdown T.Limit Temp"),
        temperature_shutdown_c=_threshold(gpu, "GPU Shutdown Temp", "GPU Shutdown T.Limit Temp"),
        fan_percent=parse_float(_value(gpu, "Fan Speed")),
        power_draw_w=draw,
        power_limit_w=limit,
        power_max_limit_w=max_limit,
        power_default_limit_w=default_limit,
        pstate=_value(gpu, "Performance State"),
        utilization_percent=parse_float(_value(gpu, "Utilization", "GPU")),
        clock_sm_mhz=parse_int(_value(gpu, "Clocks", "SM")),
        clock_sm_max_mhz=parse_int(_value(gpu, "Max Clocks", "SM")),
        clock_mem_mhz=parse_int(_value(gpu, "Clocks", "Memory")),
        throttle_reasons=_reasons(gpu),
        ecc=_ecc(gpu),
        persistence_mode=parse_bool(_value(gpu, "Persistence Mode")),
        mig_enabled=parse_bool(_value(gpu, "MIG Mode", "Current")),
        mig_devices=_mig_devices(gpu),
        processes=_processes(gpu),
    )


def _report(text: str) -> GpuReport:
    root = _tree(text)
    sections = [
        (node, match.group(1))
        for node in root.children
        if node.value is None and (match := _GPU_HEADER.match(node.key))
    ]
    attached = parse_int(_value(root, "Attached GPUs"))
    if not sections and attached is None and "NVSMI LOG" not in text:
        raise ParseError("not nvidia-smi -q output: no 'Attached GPUs' and no 'GPU <bus id>'")
    warnings = []
    if attached is not None and attached != len(sections):
        warnings.append(f"nvidia-smi -q says 'Attached GPUs: {attached}' but lists {len(sections)}")
    return GpuReport(
        source="nvidia-smi-q",
        driver_version=parse_version(_first(root, ("KMD Version",), ("Driver Version",))),
        cuda_version=parse_version(_first(root, ("CUDA UMD Version",), ("CUDA Version",))),
        gpus=[_gpu(node, index, bus_id) for index, (node, bus_id) in enumerate(sections)],
        warnings=warnings,
    )


def parse_nvsmi_q(text: str) -> GpuReport:
    """GPUs from ``nvidia-smi -q``; GPU index = order in the report."""
    try:
        return _report(text)
    except (ValueError, OverflowError) as exc:  # pydantic's ValidationError is a ValueError
        raise ParseError(f"nvidia-smi -q: unusable value ({exc})"[:300]) from exc
