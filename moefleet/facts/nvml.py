"""Turn the collector's NVML snapshot (plain JSON values) into a GpuReport.

The collector calls nvidia-ml-py on the host and ships raw values: bytes, milliwatts, enum
integers. Enum values are NVML's (checked against nvidia-ml-py 13.x): architectures
NVML_DEVICE_ARCH_* (2 Kepler ... 10 Blackwell), performance state 0..15 = P0..P15, clock event
reasons as the bitmask of nvmlClocksEventReason*.
"""

from __future__ import annotations

from typing import Any

from moefleet.errors import ParseError
from moefleet.facts.gpu_names import lookup_gpu
from moefleet.facts.model import EccFacts, GpuFacts, GpuReport, PcieLink
from moefleet.facts.nvsmi_csv import decode_event_reasons
from moefleet.facts.values import normalize_bus_id

_ARCHITECTURES = {
    2: "Kepler",
    3: "Maxwell",
    4: "Pascal",
    5: "Volta",
    6: "Turing",
    7: "Ampere",
    8: "Ada Lovelace",
    9: "Hopper",
    10: "Blackwell",
    13: "Rubin",
}
_MIB = 1024 * 1024


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _mib(value: Any) -> int | None:
    number = _int(value)
    return round(number / _MIB) if number is not None else None


def _watts(milliwatts: Any) -> float | None:
    number = _int(milliwatts)
    return number / 1000 if number is not None else None


def _cuda_version(value: Any) -> str | None:
    """12040 -> '12.4' (NVML encodes major*1000 + minor*10)."""
    number = _int(value)
    return f"{number // 1000}.{number % 1000 // 10}" if number else None


def _compute_capability(value: Any, name: str) -> tuple[str | None, str | None]:
    architecture, from_name = lookup_gpu(name)
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(_int(v) is not None for v in value)
    ):
        return architecture, f"{int(value[0])}.{int(value[1])}"
    return architecture, from_name


def _ecc(device: dict[str, Any]) -> EccFacts:
    remapped = device.get("remapped_rows")
    pending, failure = (None, None)
    if isinstance(remapped, list) and len(remapped) == 4:
        pending, failure = bool(remapped[2]), bool(remapped[3])
    enabled = device.get("ecc_enabled")
    retired_pending = device.get("retired_pages_pending")
    return EccFacts(
        enabled=bool(enabled) if enabled is not None else None,
        volatile_uncorrected=_int(device.get("ecc_volatile_uncorrected")),
        aggregate_uncorrected=_int(device.get("ecc_aggregate_uncorrected")),
        volatile_corrected=_int(device.get("ecc_volatile_corrected")),
        aggregate_corrected=_int(device.get("ecc_aggregate_corrected")),
        retired_pages=_int(device.get("retired_pages")),
        retired_pages_pending=bool(retired_pending) if retired_pending is not None else None,
        remapped_rows_pending=pending,
        remapped_rows_failure=failure,
    )


def _device(device: dict[str, Any], position: int) -> GpuFacts:
    name = device.get("name")
    if not isinstance(name, str) or not name:
        raise ParseError(f"NVML device {position} has no name")
    architecture, capability = _compute_capability(device.get("compute_capability"), name)
    architecture = _ARCHITECTURES.get(_int(device.get("architecture")) or -1, architecture)
    pstate = _int(device.get("pstate"))
    reasons = _int(device.get("event_reasons"))
    persistence, mig = device.get("persistence"), device.get("mig_mode")
    return GpuFacts(
        index=_int(device.get("index")) or position,
        name=name,
        uuid=device.get("uuid"),
        bus_id=normalize_bus_id(device.get("bus_id")),
        architecture=architecture,
        compute_capability=capability,
        memory_total_mib=_mib(device.get("memory_total")),
        memory_used_mib=_mib(device.get("memory_used")),
        memory_free_mib=_mib(device.get("memory_free")),
        pcie=PcieLink(
            gen_current=_int(device.get("pcie_gen_current")),
            gen_max=_int(device.get("pcie_gen_max")),
            width_current=_int(device.get("pcie_width_current")),
            width_max=_int(device.get("pcie_width_max")),
        ),
        temperature_c=_int(device.get("temperature")),
        temperature_slowdown_c=_int(device.get("temperature_slowdown")),
        temperature_shutdown_c=_int(device.get("temperature_shutdown")),
        fan_percent=_int(device.get("fan")),
        power_draw_w=_watts(device.get("power_mw")),
        power_limit_w=_watts(device.get("power_limit_mw")),
        power_max_limit_w=_watts(device.get("power_max_limit_mw")),
        power_default_limit_w=_watts(device.get("power_default_limit_mw")),
        pstate=f"P{pstate}" if pstate is not None and pstate < 16 else None,
        utilization_percent=_int(device.get("utilization_gpu")),
        clock_sm_mhz=_int(device.get("clock_sm")),
        clock_sm_max_mhz=_int(device.get("clock_sm_max")),
        clock_mem_mhz=_int(device.get("clock_mem")),
        throttle_reasons=decode_event_reasons(reasons) if reasons is not None else [],
        ecc=_ecc(device),
        persistence_mode=bool(persistence) if persistence is not None else None,
        mig_enabled=bool(mig) if mig is not None else None,
    )


def parse_nvml_snapshot(snapshot: dict[str, Any]) -> GpuReport:
    """GpuReport from the collector's ``nvml`` section (``available`` and ``devices`` set)."""
    devices = snapshot.get("devices")
    if not isinstance(devices, list) or not devices:
        raise ParseError(f"NVML reported no devices: {snapshot.get('error', 'empty list')}")
    try:
        gpus = [_device(device, i) for i, device in enumerate(devices)]
    except (TypeError, ValueError, AttributeError) as exc:
        raise ParseError(f"NVML snapshot is malformed: {exc}") from exc
    driver = snapshot.get("driver_version")
    return GpuReport(
        source="nvml",
        driver_version=driver if isinstance(driver, str) else None,
        cuda_version=_cuda_version(snapshot.get("cuda_driver_version")),
        gpus=gpus,
    )
