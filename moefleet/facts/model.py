"""The facts moefleet knows about a host: plain pydantic models, no behaviour beyond derivations.

Every field that a command may not report is optional (``None`` = unknown, never a guess).
Units are in the field names (``_mib``, ``_bytes``, ``_c``, ``_w``) so a reader never wonders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GpuSource = Literal[
    "nvml",
    "nvidia-smi-xml",
    "nvidia-smi-q",
    "nvidia-smi-csv",
    "nvidia-smi-table",
    "nvidia-smi-list",
    "rocm-smi",
]

#: Canonical names of clock event ("throttle") reasons, shared by every GPU source.
THROTTLE_REASONS = (
    "gpu_idle",
    "applications_clocks_setting",
    "sw_power_cap",
    "hw_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "display_clock_setting",
)

#: Reasons that mean the GPU ran slower than it could (a thermal or power limit acting).
SLOWDOWN_REASONS = frozenset(
    {"sw_thermal_slowdown", "hw_thermal_slowdown", "hw_slowdown", "hw_power_brake_slowdown",
     "sw_power_cap"}
)  # fmt: skip
#: The hardware and thermal ones (not the configured power cap): what the planner derates for.
HARD_SLOWDOWN_REASONS = SLOWDOWN_REASONS - {"sw_power_cap"}

#: PCIe transfer rate per lane (GT/s) for each generation, as lspci prints it.
PCIE_GEN_BY_GTS = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}


class Fact(BaseModel):
    """Base for every fact model: unknown keys are a bug, not data."""

    model_config = ConfigDict(extra="forbid")


class PcieLink(Fact):
    """A PCIe link: generation and lane width, as negotiated now and at most."""

    gen_current: int | None = None
    gen_max: int | None = None
    width_current: int | None = None
    width_max: int | None = None


class EccFacts(Fact):
    """ECC state and error counters; ``None`` where the GPU has no ECC or did not say."""

    enabled: bool | None = None
    volatile_uncorrected: int | None = None
    aggregate_uncorrected: int | None = None
    volatile_corrected: int | None = None
    aggregate_corrected: int | None = None
    retired_pages: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None


class MigDevice(Fact):
    """One MIG instance carved out of a GPU."""

    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    profile: str | None = None
    uuid: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None


class GpuProcess(Fact):
    """A process holding GPU memory."""

    pid: int
    name: str
    used_memory_mib: int | None = None
    type: str | None = None


class GpuFacts(Fact):
    """One GPU as the driver reports it."""

    index: int
    vendor: Literal["nvidia", "amd"] = "nvidia"
    name: str
    name_truncated: bool = False
    uuid: str | None = None
    bus_id: str | None = Field(
        default=None, description="PCI address normalised to 'dddd:bb:dd.f', lower case"
    )
    architecture: str | None = None
    compute_capability: str | None = Field(default=None, description="e.g. '8.9'")
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    memory_free_mib: int | None = None
    memory_reserved_mib: int | None = None
    pcie: PcieLink = Field(default_factory=PcieLink)
    temperature_c: float | None = None
    memory_temperature_c: float | None = None
    temperature_slowdown_c: float | None = None
    temperature_shutdown_c: float | None = None
    fan_percent: float | None = None
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    power_max_limit_w: float | None = None
    power_default_limit_w: float | None = None
    pstate: str | None = None
    utilization_percent: float | None = None
    clock_sm_mhz: int | None = None
    clock_sm_max_mhz: int | None = None
    clock_mem_mhz: int | None = None
    throttle_reasons: list[str] = Field(
        default_factory=list, description="active clock event reasons, names from THROTTLE_REASONS"
    )
    ecc: EccFacts = Field(default_factory=EccFacts)
    persistence_mode: bool | None = None
    mig_enabled: bool | None = None
    mig_devices: list[MigDevice] = Field(default_factory=list)
    processes: list[GpuProcess] = Field(default_factory=list)


class NvlinkLink(Fact):
    """One NVLink of one GPU."""

    gpu_index: int
    link: int
    active: bool
    speed_gbps: float | None = None


class GpuReport(Fact):
    """What one GPU tool reported about all GPUs of a host."""

    source: GpuSource
    driver_version: str | None = None
    cuda_version: str | None = None
    gpus: list[GpuFacts] = Field(default_factory=list)
    nvlinks: list[NvlinkLink] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="tool warnings, e.g. 'infoROM is corrupted'"
    )


class PciDevice(Fact):
    """A display/3D controller as lspci sees it, with its link capability and status."""

    bus_id: str
    vendor_id: str | None = None
    device_id: str | None = None
    vendor: str | None = None
    description: str
    link: PcieLink = Field(default_factory=PcieLink)
    link_readable: bool = Field(
        default=True, description="False when lspci could not read capabilities (not root)"
    )

    @property
    def is_nvidia(self) -> bool:
        return self.vendor_id == "10de" or "nvidia" in self.description.lower()


class CpuFacts(Fact):
    """The host's CPUs: model, topology and the SIMD features llama.cpp's CPU paths use."""

    model: str | None = None
    vendor: str | None = None
    architecture: str | None = None
    sockets: int | None = None
    cores: int | None = Field(default=None, description="physical cores, all sockets")
    threads: int | None = Field(default=None, description="logical CPUs online")
    numa_nodes: int | None = None
    max_mhz: float | None = None
    avx2: bool | None = None
    avx512: bool | None = Field(default=None, description="AVX-512 Foundation (avx512f)")
    amx: bool | None = Field(default=None, description="Intel AMX tiles (amx_tile)")
    features: list[str] = Field(
        default_factory=list, description="the SIMD flags of interest that the CPU has"
    )


class MemoryFacts(Fact):
    """System RAM from /proc/meminfo."""

    total_bytes: int
    available_bytes: int | None = None
    available_estimated: bool = Field(
        default=False, description="True when MemAvailable was missing and was estimated"
    )
    swap_total_bytes: int | None = None
    swap_free_bytes: int | None = None


class DiskFacts(Fact):
    """Free space on the filesystem holding a path (where models will live)."""

    path: str
    mount: str | None = None
    filesystem: str | None = None
    total_bytes: int | None = None
    free_bytes: int | None = None


class OsFacts(Fact):
    """Operating system identity."""

    hostname: str | None = None
    name: str | None = Field(default=None, description="PRETTY_NAME from os-release")
    kernel: str | None = None
    arch: str | None = None


class ToolVersion(Fact):
    """An installed program: where it is and what version it says it is."""

    path: str | None = None
    version: str | None = None
    detail: str | None = Field(default=None, description="e.g. build commit or backends")


class RuntimeFacts(Fact):
    """Inference runtimes and service managers installed on the host."""

    llama_server: ToolVersion | None = None
    vllm: ToolVersion | None = None
    docker: ToolVersion | None = None
    nvcc: ToolVersion | None = None
    python: ToolVersion | None = None
    systemd: ToolVersion | None = None
    systemd_is_init: bool | None = Field(
        default=None, description="True when PID 1 is systemd (units can be managed)"
    )


class SensorReading(Fact):
    """One hwmon reading from `sensors` (temperature, fan or power)."""

    chip: str
    label: str
    kind: Literal["temperature", "fan", "power", "voltage", "other"]
    value: float | None = None
    unit: str | None = None
    high: float | None = None
    critical: float | None = None


class SectionProblem(Fact):
    """A fact section that could not be collected or parsed; the host is then 'degraded'."""

    section: str
    message: str


GpuStatus = Literal["ok", "none", "driver-missing", "driver-error", "timeout", "unknown"]


class HostFacts(Fact):
    """Everything a probe learned about one host."""

    host: str
    collected_at: datetime
    collector: Literal["python", "sh", "import"]
    os: OsFacts = Field(default_factory=OsFacts)
    cpu: CpuFacts | None = None
    memory: MemoryFacts | None = None
    disks: list[DiskFacts] = Field(default_factory=list)
    gpu_status: GpuStatus = "none"
    gpu: GpuReport | None = None
    pci_gpus: list[PciDevice] = Field(default_factory=list)
    runtimes: RuntimeFacts = Field(default_factory=RuntimeFacts)
    sensors: list[SensorReading] = Field(default_factory=list)
    problems: list[SectionProblem] = Field(default_factory=list)

    @property
    def gpus(self) -> list[GpuFacts]:
        return self.gpu.gpus if self.gpu else []

    @property
    def degraded(self) -> bool:
        return bool(self.problems)
