"""Checklist rules about one GPU: PCIe link, flash attention, heat, throttling, ECC, power."""

from __future__ import annotations

from collections.abc import Iterator

from moefleet.facts.model import GpuFacts
from moefleet.findings.model import Finding
from moefleet.findings.thresholds import Thresholds

_THERMAL = {"sw_thermal_slowdown", "hw_thermal_slowdown"}
_HARDWARE = {"hw_slowdown", "hw_power_brake_slowdown"}
# Rough usable PCIe bandwidth per lane in GB/s by generation (after 8b/10b or 128b/130b coding).
_GBPS_PER_LANE = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}


def _label(gpu: GpuFacts) -> str:
    return f"GPU {gpu.index} ({gpu.name})"


def _bandwidth(gen: int | None, width: int | None) -> str:
    if gen is None or width is None or gen not in _GBPS_PER_LANE:
        return ""
    return f" (~{_GBPS_PER_LANE[gen] * width:.0f} GB/s)"


def pcie_rules(gpu: GpuFacts, limits: Thresholds) -> Iterator[Finding]:
    """Narrow links (risers, bifurcation), old generations, and links downtrained under load."""
    link = gpu.pcie
    if link.width_current is not None and link.width_current < limits.min_pcie_width:
        if link.width_max is not None and link.width_max > link.width_current:
            cause = (
                f"runs at x{link.width_current} of x{link.width_max}: an x8 riser, a "
                "bifurcated or shared slot"
            )
        else:
            cause = f"has only x{link.width_current} lanes (the card or slot allows no more)"
        yield Finding(
            level="warn",
            code="pcie.narrow_link",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} {cause}{_bandwidth(link.gen_current, link.width_current)}. "
                "Model loading, expert offload and multi-GPU splits slow down; "
                f"move it to a full x{limits.min_pcie_width} slot."
            ),
        )
    if link.gen_max is not None and link.gen_max < limits.min_pcie_gen:
        yield Finding(
            level="warn",
            code="pcie.old_generation",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} supports at most PCIe Gen{link.gen_max}"
                f"{_bandwidth(link.gen_max, link.width_max or link.width_current)}: "
                "CPU expert offload and loading are slower than on Gen4 x16; "
                "prefer plans that keep the whole model in VRAM here."
            ),
        )
    busy = (gpu.utilization_percent or 0) >= limits.busy_utilization_percent
    if (
        busy
        and link.gen_current is not None
        and link.gen_max is not None
        and link.gen_current < link.gen_max
    ):
        yield Finding(
            level="warn",
            code="pcie.downtrained",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} link is at Gen{link.gen_current} of Gen{link.gen_max} while "
                f"{gpu.utilization_percent:.0f}% busy: the link trained down (reseat the card, "
                "check the riser/cable, the slot's BIOS speed setting, and AER errors in dmesg)."
            ),
        )


def capability_rules(gpu: GpuFacts, limits: Thresholds) -> Iterator[Finding]:
    """Flash attention needs Ampere (compute capability 8.0) or newer."""
    if gpu.vendor != "nvidia":
        return
    if gpu.compute_capability is None:
        yield Finding(
            level="info",
            code="gpu.unknown_capability",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)}: compute capability unknown; flash attention support "
                "cannot be checked (plans assume none)."
            ),
        )
        return
    try:
        capability = float(gpu.compute_capability)
    except ValueError:
        return
    if capability < limits.min_flash_attention_cc:
        yield Finding(
            level="warn",
            code="gpu.no_flash_attention",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} has compute capability {gpu.compute_capability}: no "
                f"FlashAttention-2 (needs {limits.min_flash_attention_cc:.1f}, Ampere or newer). "
                "Plans run without -fa and keep the KV cache f16 (a quantized V cache needs "
                "flash attention); long contexts cost more VRAM."
            ),
        )


def thermal_rules(gpu: GpuFacts, limits: Thresholds) -> Iterator[Finding]:
    """Throttling now (thermal, hardware, power cap) and running hot."""
    active = set(gpu.throttle_reasons)
    if active & _THERMAL:
        yield Finding(
            level="warn",
            code="gpu.thermal_throttling",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} is throttling for heat ({', '.join(sorted(active & _THERMAL))}) "
                f"at {_temp(gpu)}: clocks and tokens/s drop under sustained load. Improve "
                "airflow/fan curve or lower the power limit; benchmarks here will be derated."
            ),
        )
    if active & _HARDWARE:
        yield Finding(
            level="warn",
            code="gpu.hw_slowdown",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} reports hardware slowdown ({', '.join(sorted(active & _HARDWARE))})"
                ": usually an overheating board or a power supply that cannot deliver; check "
                "PSU cables and temperatures."
            ),
        )
    if (
        "sw_power_cap" in active
        and (gpu.utilization_percent or 0) >= limits.busy_utilization_percent
    ):
        yield Finding(
            level="info",
            code="gpu.power_capped",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} is held at its power limit ({_watts(gpu.power_limit_w)}) under "
                "load: expected for a busy GPU; raising the limit buys prefill speed."
            ),
        )
    hot_at = limits.hot_gpu_c
    if gpu.temperature_slowdown_c is not None:
        hot_at = min(hot_at, gpu.temperature_slowdown_c - limits.slowdown_margin_c)
    if gpu.temperature_c is not None and gpu.temperature_c >= hot_at:
        fan = f", fan {gpu.fan_percent:.0f}%" if gpu.fan_percent is not None else ""
        yield Finding(
            level="warn",
            code="gpu.hot",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} is hot: {_temp(gpu)}{fan} (limit {hot_at:.0f} °C). Cooling must "
                "hold a sustained 80%+ load; check airflow and dust before deploying."
            ),
        )


def _temp(gpu: GpuFacts) -> str:
    return f"{gpu.temperature_c:.0f} °C" if gpu.temperature_c is not None else "unknown temp"


def _watts(value: float | None) -> str:
    return f"{value:.0f} W" if value is not None else "unknown"


def memory_health_rules(gpu: GpuFacts, limits: Thresholds) -> Iterator[Finding]:
    """ECC errors, retired pages and row remapping: a GPU whose memory is failing."""
    ecc = gpu.ecc
    if ecc.volatile_uncorrected:
        yield Finding(
            level="block",
            code="gpu.ecc_uncorrected",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} had {ecc.volatile_uncorrected} uncorrected ECC error(s) since the "
                "driver loaded: results may be corrupt. Check dmesg for Xid errors and reset or "
                "replace the GPU before deploying."
            ),
        )
    elif ecc.aggregate_uncorrected:
        yield Finding(
            level="warn",
            code="gpu.ecc_history",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} has {ecc.aggregate_uncorrected} uncorrected ECC error(s) in its "
                "lifetime: watch it; a rising count means failing memory."
            ),
        )
    if ecc.retired_pages_pending or ecc.remapped_rows_pending:
        yield Finding(
            level="block",
            code="gpu.memory_retirement_pending",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} has bad memory waiting to be retired/remapped: "
                "reset the GPU (or reboot) before deploying."
            ),
        )
    if ecc.remapped_rows_failure:
        yield Finding(
            level="block",
            code="gpu.row_remap_failure",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} could not remap a failing memory row: the GPU needs service "
                "(RMA); do not deploy on it."
            ),
        )
    if ecc.retired_pages is not None and ecc.retired_pages >= limits.retired_pages_warn:
        yield Finding(
            level="warn",
            code="gpu.many_retired_pages",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} has {ecc.retired_pages} retired memory pages: its memory is "
                "wearing out; plan its replacement."
            ),
        )


def usage_rules(gpu: GpuFacts, limits: Thresholds) -> Iterator[Finding]:
    """VRAM already taken, a lowered power limit, MIG partitioning."""
    total, used = gpu.memory_total_mib, gpu.memory_used_mib
    if total and used is not None and used > limits.vram_in_use_fraction * total:
        yield Finding(
            level="info",
            code="gpu.vram_in_use",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} already has {used / 1024:.1f} of {total / 1024:.1f} GiB VRAM in "
                "use by other processes: plans count only the free memory."
            ),
        )
    limit, default = gpu.power_limit_w, gpu.power_default_limit_w
    if limit and default and limit < limits.power_limit_fraction * default:
        yield Finding(
            level="info",
            code="gpu.power_limited",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} power limit is lowered to {limit:.0f} W (default "
                f"{default:.0f} W): tokens/s will be lower than the card's stock speed "
                "(nvidia-smi -pl to restore it)."
            ),
        )
    if gpu.mig_enabled:
        yield Finding(
            level="info",
            code="gpu.mig_enabled",
            gpu=gpu.index,
            message=(
                f"{_label(gpu)} is partitioned with MIG ({len(gpu.mig_devices)} instance(s)): "
                "each instance is a smaller, separate GPU for planning."
            ),
        )


GPU_RULES = (pcie_rules, capability_rules, thermal_rules, memory_health_rules, usage_rules)
