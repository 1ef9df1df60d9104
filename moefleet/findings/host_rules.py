"""Checklist rules about the host as a whole: driver, RAM, disk, CPU, NVLink, probe health."""

from __future__ import annotations

from collections.abc import Iterator

from moefleet.facts.model import HostFacts
from moefleet.findings.model import Finding
from moefleet.findings.thresholds import Thresholds

GIB = 1024**3


def driver_rules(facts: HostFacts, limits: Thresholds) -> Iterator[Finding]:
    """No GPU, a GPU without driver, a driver that fails or hangs."""
    gpu_problems = "; ".join(p.message for p in facts.problems if p.section == "gpu")
    if facts.gpu_status == "none" and not facts.gpus:
        threads = facts.cpu.threads if facts.cpu and facts.cpu.threads else "?"
        ram = f"{facts.memory.total_bytes / GIB:.0f} GiB" if facts.memory else "unknown"
        yield Finding(
            level="info",
            code="host.no_gpu",
            message=(
                f"no NVIDIA GPU: CPU inference only (llama.cpp on {threads} threads, models "
                f"must fit in {ram} of RAM); expect a few tokens/s beyond small models."
            ),
        )
    elif facts.gpu_status == "driver-missing":
        yield Finding(
            level="block",
            code="gpu.driver_missing",
            message=(
                "an NVIDIA GPU is on the PCI bus but neither NVML nor nvidia-smi is available: "
                "install the NVIDIA driver (and nvidia-utils) before deploying."
            ),
        )
    elif facts.gpu_status in ("driver-error", "timeout"):
        verb = "hung" if facts.gpu_status == "timeout" else "failed"
        yield Finding(
            level="block",
            code="gpu.driver_unresponsive",
            message=(
                f"the NVIDIA driver is not responding (nvidia-smi/NVML {verb}: {gpu_problems}). "
                "Check `dmesg` for Xid errors, reload the nvidia module or reboot; nothing can "
                "be deployed on this GPU until it answers."
            ),
        )
    if facts.gpu is not None:
        for warning in facts.gpu.warnings:
            yield Finding(
                level="warn",
                code="gpu.tool_warning",
                message=(
                    f"nvidia-smi warns: {warning}. Reflash the infoROM / contact the vendor if "
                    "it concerns the GPU's firmware."
                ),
            )


def memory_rules(facts: HostFacts, limits: Thresholds) -> Iterator[Finding]:
    """RAM below what comfortable CPU expert offload needs."""
    if facts.memory is None or not facts.gpus:
        return  # without a GPU there is nothing to offload from; host.no_gpu covers RAM
    total_gib = facts.memory.total_bytes / GIB
    if total_gib < limits.min_ram_offload_gib * limits.memtotal_slack:
        yield Finding(
            level="warn",
            code="host.low_ram_for_offload",
            message=(
                f"RAM is {total_gib:.0f} GiB (< {limits.min_ram_offload_gib:.0f} GB): no "
                "comfortable CPU expert offload; MoE models must fit in VRAM on this host."
            ),
        )


def disk_rules(facts: HostFacts, limits: Thresholds) -> Iterator[Finding]:
    """Free space where models will live."""
    for disk in facts.disks:
        if disk.free_bytes is None:
            continue
        free_gib = disk.free_bytes / GIB
        where = f"{disk.path} (on {disk.mount})" if disk.mount else disk.path
        if free_gib < limits.low_disk_block_gib:
            yield Finding(
                level="block",
                code="disk.full",
                message=(
                    f"only {free_gib:.1f} GiB free under {where}: no model fits; free space or "
                    "point models_dir at a larger disk."
                ),
            )
        elif free_gib < limits.low_disk_warn_gib:
            yield Finding(
                level="warn",
                code="disk.low",
                message=(
                    f"{free_gib:.0f} GiB free under {where}: room for a mid-size model at most "
                    f"(< {limits.low_disk_warn_gib:.0f} GiB); large MoE GGUFs will not fit."
                ),
            )


def cpu_rules(facts: HostFacts, limits: Thresholds) -> Iterator[Finding]:
    """x86 CPUs without AVX2 make llama.cpp's CPU paths (expert offload) crawl."""
    cpu = facts.cpu
    if cpu and cpu.avx2 is False and (cpu.architecture or "").startswith(("x86", "i686", "amd64")):
        yield Finding(
            level="warn",
            code="cpu.no_avx2",
            message=(
                f"the CPU ({cpu.model or 'unknown'}) lacks AVX2: llama.cpp's CPU kernels (expert "
                "offload, CPU-only serving) will be several times slower."
            ),
        )


def nvlink_rules(facts: HostFacts, limits: Thresholds) -> Iterator[Finding]:
    """Some NVLinks down while others are up: a degraded bridge or cable."""
    links = facts.gpu.nvlinks if facts.gpu else []
    inactive = [link for link in links if not link.active]
    if inactive and len(inactive) < len(links):
        gpus = sorted({link.gpu_index for link in inactive})
        yield Finding(
            level="warn",
            code="nvlink.inactive",
            message=(
                f"{len(inactive)} of {len(links)} NVLinks are inactive (GPUs "
                f"{', '.join(map(str, gpus))}): tensor-parallel traffic falls back to PCIe; "
                "check the NVLink bridges / run the vendor diagnostics."
            ),
        )


def probe_rules(facts: HostFacts, limits: Thresholds) -> Iterator[Finding]:
    """Facts that could not be read make every other conclusion weaker."""
    for problem in facts.problems:
        if problem.section == "gpu" and facts.gpu_status in ("driver-error", "timeout"):
            continue  # already reported as gpu.driver_unresponsive
        yield Finding(
            level="warn",
            code="probe.degraded",
            message=(
                f"{problem.section} facts could not be read ({problem.message}); the host is "
                "degraded: findings and plans for it are incomplete."
            ),
        )


HOST_RULES = (driver_rules, memory_rules, disk_rules, cpu_rules, nvlink_rules, probe_rules)
