"""``nvidia-smi --query-gpu`` answers (the document ``render_query.py`` serves on the host)."""

from tests.lab import render_query
from tests.lab.profiles import EVENT_REASONS, Gpu, HostProfile
from tests.lab.render_xml import _enabled, _mib, _w

# --- nvidia-smi --query-gpu values -----------------------------------------------------------

_REASON_BITS = {
    "gpu_idle": 0x1,
    "applications_clocks_setting": 0x2,
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sync_boost": 0x10,
    "sw_thermal_slowdown": 0x20,
    "hw_thermal_slowdown": 0x40,
    "hw_power_brake_slowdown": 0x80,
    "display_clocks_setting": 0x100,
}
NA_CSV = "[N/A]"


def _ecc_fields(gpu: Gpu) -> dict[str, str]:
    on = gpu.model.ecc and gpu.ecc_enabled
    mode = _enabled(gpu.ecc_enabled) if gpu.model.ecc else NA_CSV
    counts = {
        "corrected.volatile": gpu.ecc_volatile_corrected,
        "uncorrected.volatile": gpu.ecc_volatile_uncorrected,
        "corrected.aggregate": gpu.ecc_aggregate_corrected,
        "uncorrected.aggregate": gpu.ecc_aggregate_uncorrected,
    }
    fields = {"ecc.mode.current": mode, "ecc.mode.pending": mode}
    for scope, count in counts.items():
        for part in ("total", "device_memory", "dram"):
            fields[f"ecc.errors.{scope}.{part}"] = str(count) if on else NA_CSV
    retire = on and not gpu.model.row_remap
    fields |= {
        "retired_pages.single_bit_ecc.count": str(gpu.retired_sbe) if retire else NA_CSV,
        "retired_pages.double_bit.count": str(gpu.retired_dbe) if retire else NA_CSV,
        "retired_pages.pending": ("Yes" if gpu.retired_pending else "No") if retire else NA_CSV,
    }
    remap = gpu.model.row_remap
    for name, value in (
        ("correctable", "0"),
        ("uncorrectable", "0"),
        ("pending", "No"),
        ("failure", "No"),
    ):
        fields[f"remapped_rows.{name}"] = value if remap else NA_CSV
    return fields


def _reason_fields(gpu: Gpu, driver: int) -> dict[str, str]:
    active = sum(bit for name, bit in _REASON_BITS.items() if name in gpu.reasons)
    values = {"supported": "0x00000000000001FF", "active": f"0x{active:016X}"}
    values |= {name: "Active" if name in gpu.reasons else "Not Active" for name in EVENT_REASONS}
    prefixes = (
        ("clocks_throttle_reasons", "clocks_event_reasons")
        if driver >= 535
        else ("clocks_throttle_reasons",)
    )
    return {f"{prefix}.{k}": v for prefix in prefixes for k, v in values.items()}


def _power_fields(gpu: Gpu, driver: int) -> dict[str, str]:
    model = gpu.model
    fields = {
        "power.management": "Enabled"
        if driver < 570
        else "[Requested functionality has been deprecated]",
        "power.draw": _w(gpu.power_draw_w),
        "power.limit": _w(gpu.power_limit_w),
        "enforced.power.limit": _w(gpu.power_limit_w),
        "power.default_limit": _w(model.power_default_w),
        "power.min_limit": _w(model.power_min_w),
        "power.max_limit": _w(model.power_max_w),
    }
    if driver >= 535:
        fields["power.draw.average"] = _w(gpu.power_draw_w)
        fields["power.draw.instant"] = _w(gpu.power_draw_w + 0.37)
    return fields


def _gpu_query(profile: HostProfile, gpu: Gpu) -> dict[str, str]:
    model, driver = gpu.model, profile.driver_major
    vendor, device = model.pci_subsystem.upper().split(":")
    graphics, mem, video = gpu.clocks
    max_g, max_m, _ = model.clocks_max
    mig = _enabled(gpu.mig_enabled) if model.mig else NA_CSV
    fields = {
        "timestamp": "@timestamp",
        "driver_version": profile.driver_version,
        "count": str(len(profile.gpus)),
        "name": model.product_name,
        "serial": NA_CSV if model.has_fan else f"16542{gpu.index:08d}",
        "uuid": gpu.uuid,
        "pci.bus_id": gpu.bus_id,
        "pci.domain": "0x0000",
        "pci.bus": f"0x{gpu.bus_id[9:11]}",
        "pci.device": "0x00",
        "pci.device_id": f"0x{model.pci_device_id.upper()}10DE",
        "pci.sub_device_id": f"0x{device}{vendor}",
        "pcie.link.gen.current": str(gpu.pcie_gen),
        "pcie.link.gen.gpucurrent": str(gpu.pcie_gen),
        "pcie.link.gen.max": str(model.pcie_gen_max),
        "pcie.link.gen.gpumax": str(model.pcie_gen_max),
        "pcie.link.gen.hostmax": str(model.pcie_gen_max),
        "pcie.link.width.current": str(gpu.pcie_width),
        "pcie.link.width.max": str(model.pcie_width_max),
        "index": str(gpu.index),
        "display_mode": _enabled(gpu.display_active),
        "display_active": _enabled(gpu.display_active),
        "persistence_mode": _enabled(gpu.persistence),
        "vbios_version": model.vbios,
        "fan.speed": NA_CSV if gpu.fan_percent is None else f"{gpu.fan_percent} %",
        "pstate": gpu.pstate,
        "memory.total": _mib(model.memory_total_mib),
        "memory.used": _mib(gpu.memory_used_mib),
        "memory.free": _mib(gpu.memory_free_mib),
        "compute_mode": "Default",
        "utilization.gpu": f"{gpu.util_percent} %",
        "utilization.memory": f"{gpu.mem_util_percent} %",
        "temperature.gpu": str(gpu.temp_c),
        "temperature.memory": str(gpu.temp_c + 6) if model.hbm else "N/A",
        "clocks.current.graphics": f"{graphics} MHz",
        "clocks.current.sm": f"{graphics} MHz",
        "clocks.current.memory": f"{mem} MHz",
        "clocks.current.video": f"{video} MHz",
        "clocks.max.graphics": f"{max_g} MHz",
        "clocks.max.sm": f"{max_g} MHz",
        "clocks.max.memory": f"{max_m} MHz",
        "mig.mode.current": mig,
        "mig.mode.pending": mig,
    }
    if driver >= 510:
        fields["memory.reserved"] = _mib(model.memory_reserved_mib)
        fields["compute_cap"] = model.compute_capability
    if driver >= 525:
        margin = gpu.tlimit_margin_c
        fields["temperature.gpu.tlimit"] = NA_CSV if margin is None else str(margin)
    return fields | _reason_fields(gpu, driver) | _power_fields(gpu, driver) | _ecc_fields(gpu)


def query_document(profile: HostProfile) -> dict[str, object]:
    """What ``render_query.py`` reads: every queryable field of every GPU, and the processes."""
    apps = [
        {
            "gpu_index": gpu.index,
            "pid": str(proc.pid),
            "process_name": proc.name,
            "used_gpu_memory": _mib(proc.used_mib),
        }
        for gpu in profile.gpus
        for proc in gpu.processes
    ]
    return {
        "host": profile.name,
        "gpus": [_gpu_query(profile, gpu) for gpu in profile.gpus],
        "apps": apps,
    }


def query_csv(profile: HostProfile, args: list[str]) -> str:
    """In-process ``nvidia-smi --query-gpu=...`` for tests (the fake runs render_query.py)."""
    return render_query.render(query_document(profile), args)
