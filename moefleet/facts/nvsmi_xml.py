"""Parse ``nvidia-smi -q -x`` (XML, DTD ``nvsmi_device_v10`` .. ``v13``).

Tag names are those of NVIDIA's nvsmi_device DTDs as seen in real outputs. Renames handled:
``clocks_throttle_reasons``/``clocks_throttle_reason_*`` -> ``clocks_event_reasons``/
``clocks_event_reason_*`` (535); ``power_readings`` -> ``gpu_power_readings`` (535) with
``power_limit`` -> ``current_power_limit`` and ``power_draw`` -> ``average_power_draw``/
``instant_power_draw`` (550+); ECC counters ``single_bit``/``double_bit`` with ``total``
(pre-Ampere drivers) -> ``sram_*``/``dram_*`` (and ``sram_uncorrectable_parity``/``_secded``
in 550+). The ``*_tlimit_*`` temperatures of newer drivers are offsets from the T.Limit: absolute
slowdown/shutdown temperatures are derived from them (``values.absolute_from_tlimit``).

The DOCTYPE line is dropped before parsing and any entity declaration is refused, so nothing
is fetched or expanded.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

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

_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*>", re.IGNORECASE)
_REASON_PREFIX = re.compile(r"^clocks_(?:event|throttle)_reason_")


def _value(element: ET.Element | None, path: str) -> str | None:
    """The stripped text at ``path``, or None when absent or a 'no value' marker."""
    if element is None:
        return None
    text = element.findtext(path)
    return None if is_not_available(text) else (text or "").strip()


def _first(element: ET.Element, *paths: str) -> str | None:
    for path in paths:
        value = _value(element, path)
        if value is not None:
            return value
    return None


def _root(text: str) -> ET.Element:
    if re.search(r"<!ENTITY", text, re.IGNORECASE):
        raise ParseError("nvidia-smi XML declares entities; refusing to expand them")
    if re.search(r"<!DOCTYPE[^>]*\[", text, re.IGNORECASE):
        raise ParseError("nvidia-smi XML has an internal DTD subset; refusing it")
    body = _DOCTYPE.sub("", text, count=1).lstrip("\ufeff \t\r\n")
    try:
        # Safe here: no DTD is left and entity declarations were refused above, so expat has
        # nothing to fetch or expand (ElementTree never loads external entities anyway).
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise ParseError(f"not well-formed nvidia-smi XML: {exc}") from exc
    if root.tag != "nvidia_smi_log":
        raise ParseError(f"not nvidia-smi XML: root element is <{root.tag}>, not <nvidia_smi_log>")
    return root


def _pcie(gpu: ET.Element) -> PcieLink:
    link = gpu.find("pci/pci_gpu_link_info")
    if link is None:
        return PcieLink()
    return PcieLink(
        gen_current=parse_int(
            _first(link, "pcie_gen/current_link_gen", "pcie_gen/device_current_link_gen")
        ),
        gen_max=parse_int(_first(link, "pcie_gen/max_link_gen", "pcie_gen/max_device_link_gen")),
        width_current=parse_int(_value(link, "link_widths/current_link_width")),
        width_max=parse_int(_value(link, "link_widths/max_link_width")),
    )


def _reasons(gpu: ET.Element) -> list[str]:
    section = gpu.find("clocks_event_reasons")
    if section is None:
        section = gpu.find("clocks_throttle_reasons")
    if section is None:
        return []
    active = {
        canonical_reason(_REASON_PREFIX.sub("", child.tag))
        for child in section
        if (child.text or "").strip().lower() == "active"
    }
    return [name for name in THROTTLE_REASONS if name in active]


def _ecc_counts(scope: ET.Element | None, kind: str) -> int | None:
    """Sum of the 'uncorrectable' or 'correctable' counters of one scope (volatile/aggregate)."""
    if scope is None:
        return None
    old_style = scope.find("double_bit" if kind == "uncorrectable" else "single_bit")
    if old_style is not None:
        return parse_int(_value(old_style, "total"))
    counters = [
        child
        for child in scope
        if kind in child.tag and (kind == "uncorrectable" or "uncorrectable" not in child.tag)
    ]
    return sum_known([parse_int(_value(child, ".")) for child in counters])


def _any_true(values: list[str | None]) -> bool | None:
    flags = [parse_bool(value) for value in values]
    known = [flag for flag in flags if flag is not None]
    return any(known) if known else None


def _ecc(gpu: ET.Element) -> EccFacts:
    errors = gpu.find("ecc_errors")
    volatile = errors.find("volatile") if errors is not None else None
    aggregate = errors.find("aggregate") if errors is not None else None
    retired = gpu.find("retired_pages")
    return EccFacts(
        enabled=parse_bool(_value(gpu, "ecc_mode/current_ecc")),
        volatile_uncorrected=_ecc_counts(volatile, "uncorrectable"),
        aggregate_uncorrected=_ecc_counts(aggregate, "uncorrectable"),
        volatile_corrected=_ecc_counts(volatile, "correctable"),
        aggregate_corrected=_ecc_counts(aggregate, "correctable"),
        retired_pages=sum_known(
            [
                parse_int(_value(retired, "multiple_single_bit_retirement/retired_count")),
                parse_int(_value(retired, "double_bit_retirement/retired_count")),
            ]
        ),
        retired_pages_pending=_any_true(
            [_value(retired, "pending_retirement"), _value(retired, "pending_blacklist")]
        ),
        remapped_rows_pending=parse_bool(_value(gpu, "remapped_rows/remapped_row_pending")),
        remapped_rows_failure=parse_bool(_value(gpu, "remapped_rows/remapped_row_failure")),
    )


def _mig_devices(gpu: ET.Element) -> list[MigDevice]:
    return [
        MigDevice(
            gpu_instance_id=parse_int(_value(device, "gpu_instance_id")),
            compute_instance_id=parse_int(_value(device, "compute_instance_id")),
            profile=_first(device, "profile", "name"),
            uuid=_value(device, "uuid"),
            memory_total_mib=parse_mib(_value(device, "fb_memory_usage/total")),
            memory_used_mib=parse_mib(_value(device, "fb_memory_usage/used")),
        )
        for device in gpu.findall("mig_devices/mig_device")
    ]


def _processes(gpu: ET.Element) -> list[GpuProcess]:
    processes = []
    for info in gpu.findall("processes/process_info"):
        pid = parse_int(_value(info, "pid"))
        if pid is not None:
            processes.append(
                GpuProcess(
                    pid=pid,
                    name=_value(info, "process_name") or "",
                    used_memory_mib=parse_mib(_value(info, "used_memory")),
                    type=_value(info, "type"),
                )
            )
    return processes


def _power(gpu: ET.Element) -> tuple[float | None, ...]:
    """(draw, enforced limit, max limit, default limit) in watts."""
    readings = gpu.find("gpu_power_readings")
    if readings is None:
        readings = gpu.find("power_readings")
    if readings is None:
        return None, None, None, None
    draw = _first(readings, "power_draw", "average_power_draw", "instant_power_draw")
    limit = _first(
        readings,
        "enforced_power_limit",
        "current_power_limit",
        "power_limit",
        ".//current_power_limit",  # nested in a ceiling-limit group in 610+ -q text
    )
    return (
        parse_float(draw),
        parse_float(limit),
        parse_float(_value(readings, "max_power_limit")),
        parse_float(_value(readings, "default_power_limit")),
    )


def _threshold(gpu: ET.Element, absolute: str, offset: str) -> float | None:
    """An absolute temperature threshold, or one derived from the T.Limit readings."""
    value = parse_float(_value(gpu, f"temperature/{absolute}"))
    if value is not None:
        return value
    return absolute_from_tlimit(
        parse_float(_value(gpu, "temperature/gpu_temp")),
        parse_float(_value(gpu, "temperature/gpu_temp_tlimit")),
        parse_float(_value(gpu, f"temperature/{offset}")),
    )


def _gpu(gpu: ET.Element, index: int) -> GpuFacts:
    name = _value(gpu, "product_name")
    if name is None:
        raise ParseError(f"nvidia-smi XML: <gpu> number {index} has no product_name")
    architecture, capability = lookup_gpu(name)
    draw, limit, max_limit, default_limit = _power(gpu)
    return GpuFacts(
        index=index,
        name=name,
        uuid=_value(gpu, "uuid"),
        bus_id=normalize_bus_id(_value(gpu, "pci/pci_bus_id") or gpu.get("id")),
        architecture=_value(gpu, "product_architecture") or architecture,
        compute_capability=capability,
        memory_total_mib=parse_mib(_value(gpu, "fb_memory_usage/total")),
        memory_used_mib=parse_mib(_value(gpu, "fb_memory_usage/used")),
        memory_free_mib=parse_mib(_value(gpu, "fb_memory_usage/free")),
        memory_reserved_mib=parse_mib(_value(gpu, "fb_memory_usage/reserved")),
        pcie=_pcie(gpu),
        temperature_c=parse_float(_value(gpu, "temperature/gpu_temp")),
        memory_temperature_c=parse_float(_value(gpu, "temperature/memory_temp")),
        temperature_slowdown_c=_threshold(
            gpu, "gpu_temp_slow_threshold", "gpu_temp_slow_tlimit_threshold"
        ),
        temperature_shutdown_c=_threshold(
            gpu, "gpu_temp_max_threshold", "gpu_temp_max_tlimit_threshold"
        ),
        fan_percent=parse_float(_value(gpu, "fan_speed")),
        power_draw_w=draw,
        power_limit_w=limit,
        power_max_limit_w=max_limit,
        power_default_limit_w=default_limit,
        pstate=_value(gpu, "performance_state"),
        utilization_percent=parse_float(_value(gpu, "utilization/gpu_util")),
        clock_sm_mhz=parse_int(_value(gpu, "clocks/sm_clock")),
        clock_sm_max_mhz=parse_int(_value(gpu, "max_clocks/sm_clock")),
        clock_mem_mhz=parse_int(_value(gpu, "clocks/mem_clock")),
        throttle_reasons=_reasons(gpu),
        ecc=_ecc(gpu),
        persistence_mode=parse_bool(_value(gpu, "persistence_mode")),
        mig_enabled=parse_bool(_value(gpu, "mig_mode/current_mig")),
        mig_devices=_mig_devices(gpu),
        processes=_processes(gpu),
    )


def _report(text: str) -> GpuReport:
    root = _root(text)
    gpus = [_gpu(element, index) for index, element in enumerate(root.findall("gpu"))]
    warnings = []
    attached = parse_int(_value(root, "attached_gpus"))
    if attached is not None and attached != len(gpus):
        warnings.append(
            f"nvidia-smi XML says attached_gpus={attached} but holds {len(gpus)} <gpu> element(s)"
        )
    return GpuReport(
        source="nvidia-smi-xml",
        driver_version=parse_version(_first(root, "kmd_version", "driver_version")),
        cuda_version=parse_version(_first(root, "cuda_umd_version", "cuda_version")),
        gpus=gpus,
        warnings=warnings,
    )


def parse_nvsmi_xml(text: str) -> GpuReport:
    """GPUs from ``nvidia-smi -q -x``; GPU index = order in the file."""
    try:
        return _report(text)
    except (ValueError, OverflowError) as exc:  # pydantic's ValidationError is a ValueError
        raise ParseError(f"nvidia-smi XML: unusable value ({exc})"[:300]) from exc
