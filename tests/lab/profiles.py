"""Hardware profiles of lab hosts: what each emulated machine has and what its tools report.

A ``HostProfile`` is plain data: GPUs (a ``GpuModel`` spec plus the instance's live state), a
CPU, RAM, the models disk and the installed runtimes. ``tests.lab.render`` turns a profile into
the exact text that ``nvidia-smi``, ``lspci``, ``lscpu`` and ``/proc`` would print.

GPU specs follow ``shared/reference/planner_facts.json`` (memory, TDP, PCIe, compute
capability); the figures nvidia-smi prints for them (MiB totals, clocks, thresholds) follow
the public captures the parsers are tested against.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Literal

SmiMode = Literal["ok", "fails", "hangs", "absent"]

#: Clock event ("throttle") reasons in nvidia-smi's XML order.
EVENT_REASONS = (
    "gpu_idle",
    "applications_clocks_setting",
    "sw_power_cap",
    "hw_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "display_clocks_setting",
)


@dataclass(frozen=True)
class GpuModel:
    """A GPU product: what every card of this model reports the same way."""

    key: str
    product_name: str
    """As nvidia-smi prints it (``<product_name>``, ``-L``, CSV ``name``)."""
    planner_name: str
    """The same GPU's name in ``planner_facts.json`` "gpus"."""
    brand: str
    architecture: str
    compute_capability: str
    memory_total_mib: int
    memory_reserved_mib: int
    bar1_mib: int
    pci_device_id: str
    """PCI device id (hex, vendor 10de), e.g. "2684"."""
    pci_subsystem: str
    """Board subsystem "vendor:device" (hex)."""
    lspci_name: str
    """lspci's device description, e.g. "AD102 [GeForce RTX 4090]"."""
    pci_class: Literal["0300", "0302"]
    audio: tuple[str, str] | None
    """The HDMI audio function at .1: (description, device id), or None."""
    pcie_gen_max: int
    pcie_width_max: int
    power_default_w: float
    power_min_w: float
    power_max_w: float
    power_idle_w: float
    temp_shutdown_c: int
    temp_slowdown_c: int
    temp_max_gpu_c: int
    temp_target_c: int | None
    tlimit_c: int | None
    """Ada/Hopper report temperatures as T.Limit margins: the limit in °C, or None."""
    clocks_max: tuple[int, int, int]
    """(graphics = sm, memory, video) MHz."""
    clocks_idle: tuple[int, int, int]
    clocks_load: tuple[int, int, int]
    vbios: str
    has_fan: bool = True
    ecc: bool = False
    hbm: bool = False
    mig: bool = False
    row_remap: bool = True
    """Ampere and later report remapped rows; older GPUs retire pages instead."""
    nvlinks: int = 0
    nvlink_gbps: float = 0.0


@dataclass(frozen=True)
class GpuProcess:
    """A process holding GPU memory (nvidia-smi's process table)."""

    pid: int
    name: str
    used_mib: int
    type: Literal["C", "G", "C+G"] = "C"


@dataclass(frozen=True)
class Gpu:
    """One card in one host: its model plus everything that varies per card."""

    model: GpuModel
    index: int
    bus_id: str
    """nvidia-smi's form, "00000000:01:00.0"."""
    uuid: str
    pcie_gen: int
    pcie_width: int
    temp_c: int
    fan_percent: int | None
    pstate: str
    util_percent: int
    mem_util_percent: int
    power_draw_w: float
    power_limit_w: float
    memory_used_mib: int
    clocks: tuple[int, int, int]
    reasons: frozenset[str]
    ecc_enabled: bool
    persistence: bool
    display_active: bool = False
    ecc_volatile_corrected: int = 0
    ecc_volatile_uncorrected: int = 0
    ecc_aggregate_corrected: int = 0
    ecc_aggregate_uncorrected: int = 0
    retired_sbe: int = 0
    retired_dbe: int = 0
    retired_pending: bool = False
    mig_enabled: bool = False
    processes: tuple[GpuProcess, ...] = ()

    @property
    def memory_free_mib(self) -> int:
        reserved = self.model.memory_reserved_mib
        return self.model.memory_total_mib - reserved - self.memory_used_mib

    @property
    def tlimit_margin_c(self) -> int | None:
        """Degrees below the T.Limit (Ada/Hopper), None where the GPU reports absolute temps."""
        return None if self.model.tlimit_c is None else self.model.tlimit_c - self.temp_c


@dataclass(frozen=True)
class Cpu:
    """The host's processors, as lscpu and /proc/cpuinfo describe them."""

    model_name: str
    vendor: Literal["GenuineIntel", "AuthenticAMD"]
    family: int
    model: int
    stepping: int
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    max_mhz: float
    min_mhz: float
    base_mhz: float
    flags: tuple[str, ...]
    l1d_kib: int
    """Per core."""
    l1i_kib: int
    l2_kib: int
    """Per core."""
    l3_mib: int
    """Per socket."""
    numa_nodes: int
    microcode: str = "0xa601206"
    address_sizes: str = "52 bits physical, 57 bits virtual"

    @property
    def threads(self) -> int:
        return self.sockets * self.cores_per_socket * self.threads_per_core


@dataclass(frozen=True)
class LlamaServer:
    """An installed llama.cpp server binary (what ``llama-server --version`` says)."""

    build: int
    commit: str
    compiler: str = "cc (Debian 12.2.0-14) 12.2.0"
    cuda: bool = True


@dataclass(frozen=True)
class HostProfile:
    """One emulated machine."""

    name: str
    group: str
    """Inventory group: consumer, workstation, datacenter, cpu or faulty."""
    cpu: Cpu
    mem_total_kib: int
    mem_available_kib: int
    disk_bytes: int
    """Size (and free space) of the models disk."""
    gpus: tuple[Gpu, ...] = ()
    driver_version: str = "550.127.05"
    cuda_version: str = "12.4"
    smi: SmiMode = "ok"
    llama_server: LlamaServer | None = None
    server_board: bool = False
    """Has a BMC with an ASPEED VGA (rack servers)."""
    swap_total_kib: int = 8 * 1024 * 1024
    description: str = ""
    user_systemd: bool = False
    """Runs a ``systemd --user`` manager for the login user (root + namespaces only)."""
    system_systemd: bool = False
    """Runs a system ``systemd`` as PID 1 of the host's own PID namespace, which starts the
    host's sshd as a unit; logins are as root (root + namespaces only)."""

    @property
    def driver_major(self) -> int:
        return int(self.driver_version.split(".")[0])

    @property
    def nvidia_smi_installed(self) -> bool:
        return self.smi != "absent" and bool(self.gpus)


# --- units -----------------------------------------------------------------------------------

PAGE = 4096


def ram_kib(gib: int) -> int:
    """MemTotal a machine with ``gib`` GiB of DIMMs reports (firmware and kernel keep ~2 %)."""
    kib = gib * 1024 * 1024
    return (kib - max(kib // 60, 262_144)) // 4 * 4


def disk_bytes(tb: float) -> int:
    """A disk sold as ``tb`` TB, rounded down to whole pages (tmpfs sizes are in pages)."""
    return int(tb * 1e12) // PAGE * PAGE


# --- GPU catalog -----------------------------------------------------------------------------

RTX_4090 = GpuModel(
    key="rtx4090",
    product_name="NVIDIA GeForce RTX 4090",
    planner_name="GeForce RTX 4090",
    brand="GeForce",
    architecture="Ada Lovelace",
    compute_capability="8.9",
    memory_total_mib=24564,
    memory_reserved_mib=346,
    bar1_mib=256,
    pci_device_id="2684",
    pci_subsystem="1458:40bf",
    lspci_name="AD102 [GeForce RTX 4090]",
    pci_class="0300",
    audio=("AD102 High Definition Audio Controller", "22ba"),
    pcie_gen_max=4,
    pcie_width_max=16,
    power_default_w=450,
    power_min_w=150,
    power_max_w=600,
    power_idle_w=21.6,
    temp_shutdown_c=-7,
    temp_slowdown_c=-2,
    temp_max_gpu_c=0,
    temp_target_c=84,
    tlimit_c=83,
    clocks_max=(3120, 10501, 2415),
    clocks_idle=(210, 405, 1185),
    clocks_load=(2520, 10501, 2175),
    vbios="95.02.3C.00.8E",
)
RTX_3090 = GpuModel(
    key="rtx3090",
    product_name="NVIDIA GeForce RTX 3090",
    planner_name="GeForce RTX 3090",
    brand="GeForce",
    architecture="Ampere",
    compute_capability="8.6",
    memory_total_mib=24576,
    memory_reserved_mib=316,
    bar1_mib=256,
    pci_device_id="2204",
    pci_subsystem="3842:3987",
    lspci_name="GA102 [GeForce RTX 3090]",
    pci_class="0300",
    audio=("GA102 High Definition Audio Controller", "1aef"),
    pcie_gen_max=4,
    pcie_width_max=16,
    power_default_w=350,
    power_min_w=100,
    power_max_w=366,
    power_idle_w=29.4,
    temp_shutdown_c=98,
    temp_slowdown_c=95,
    temp_max_gpu_c=93,
    temp_target_c=83,
    tlimit_c=None,
    clocks_max=(2100, 9751, 1950),
    clocks_idle=(210, 405, 555),
    clocks_load=(1905, 9501, 1710),
    vbios="94.02.42.80.D5",
    row_remap=False,
)
RTX_A6000 = GpuModel(
    key="a6000",
    product_name="NVIDIA RTX A6000",
    planner_name="RTX A6000",
    brand="NVIDIA RTX",
    architecture="Ampere",
    compute_capability="8.6",
    memory_total_mib=49140,
    memory_reserved_mib=487,
    bar1_mib=256,
    pci_device_id="2230",
    pci_subsystem="10de:1459",
    lspci_name="GA102GL [RTX A6000]",
    pci_class="0300",
    audio=("GA102 High Definition Audio Controller", "1aef"),
    pcie_gen_max=4,
    pcie_width_max=16,
    power_default_w=300,
    power_min_w=100,
    power_max_w=300,
    power_idle_w=18.3,
    temp_shutdown_c=98,
    temp_slowdown_c=95,
    temp_max_gpu_c=93,
    temp_target_c=84,
    tlimit_c=None,
    clocks_max=(2100, 8001, 1950),
    clocks_idle=(210, 405, 555),
    clocks_load=(1800, 8001, 1605),
    vbios="94.02.5C.00.02",
    ecc=True,
)
H100_SXM5 = GpuModel(
    key="h100",
    product_name="NVIDIA H100 80GB HBM3",
    planner_name="H100 SXM5",
    brand="NVIDIA",
    architecture="Hopper",
    compute_capability="9.0",
    memory_total_mib=81559,
    memory_reserved_mib=479,
    bar1_mib=131072,
    pci_device_id="2330",
    pci_subsystem="10de:16c1",
    lspci_name="GH100 [H100 SXM5 80GB]",
    pci_class="0302",
    audio=None,
    pcie_gen_max=5,
    pcie_width_max=16,
    power_default_w=700,
    power_min_w=200,
    power_max_w=700,
    power_idle_w=71.5,
    temp_shutdown_c=-8,
    temp_slowdown_c=-2,
    temp_max_gpu_c=0,
    temp_target_c=None,
    tlimit_c=87,
    clocks_max=(1980, 2619, 1545),
    clocks_idle=(345, 2619, 765),
    clocks_load=(1980, 2619, 1545),
    vbios="96.00.99.00.01",
    has_fan=False,
    ecc=True,
    hbm=True,
    mig=True,
    nvlinks=18,
    nvlink_gbps=26.562,
)
RTX_4080_SUPER = GpuModel(
    key="rtx4080s",
    product_name="NVIDIA GeForce RTX 4080 SUPER",
    planner_name="GeForce RTX 4080 SUPER",
    brand="GeForce",
    architecture="Ada Lovelace",
    compute_capability="8.9",
    memory_total_mib=16376,
    memory_reserved_mib=434,
    bar1_mib=256,
    pci_device_id="2702",
    pci_subsystem="1462:5110",
    lspci_name="AD103 [GeForce RTX 4080 SUPER]",
    pci_class="0300",
    audio=("AD103 High Definition Audio Controller", "22bb"),
    pcie_gen_max=4,
    pcie_width_max=16,
    power_default_w=320,
    power_min_w=150,
    power_max_w=400,
    power_idle_w=12.8,
    temp_shutdown_c=-7,
    temp_slowdown_c=-2,
    temp_max_gpu_c=0,
    temp_target_c=83,
    tlimit_c=83,
    clocks_max=(3165, 11501, 2415),
    clocks_idle=(210, 405, 1185),
    clocks_load=(2760, 11501, 2235),
    vbios="95.03.44.00.B2",
)
V100_SXM2 = GpuModel(
    key="v100",
    product_name="Tesla V100-SXM2-32GB",
    planner_name="",
    brand="Tesla",
    architecture="Volta",
    compute_capability="7.0",
    memory_total_mib=32510,
    memory_reserved_mib=0,
    bar1_mib=32768,
    pci_device_id="1db5",
    pci_subsystem="10de:1249",
    lspci_name="GV100GL [Tesla V100 SXM2 32GB]",
    pci_class="0302",
    audio=None,
    pcie_gen_max=3,
    pcie_width_max=16,
    power_default_w=300,
    power_min_w=150,
    power_max_w=300,
    power_idle_w=42.6,
    temp_shutdown_c=90,
    temp_slowdown_c=87,
    temp_max_gpu_c=83,
    temp_target_c=None,
    tlimit_c=None,
    clocks_max=(1530, 877, 1372),
    clocks_idle=(135, 877, 555),
    clocks_load=(1530, 877, 1372),
    vbios="88.00.80.00.04",
    has_fan=False,
    ecc=True,
    hbm=True,
    row_remap=False,
    nvlinks=6,
    nvlink_gbps=25.781,
)

_ALL_MODELS = (RTX_4090, RTX_3090, RTX_A6000, H100_SXM5, RTX_4080_SUPER, V100_SXM2)
GPU_MODELS = {m.key: m for m in _ALL_MODELS}


def gpu_uuid(host: str, index: int) -> str:
    """A stable, unique GPU UUID for a lab host's card."""
    return "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{host}.gpu{index}.moefleet-lab"))


def make_gpu(model: GpuModel, host: str, index: int, bus: str, **changes: object) -> Gpu:
    """An idle card of ``model`` at PCI bus ``bus`` ("01"), with ``changes`` applied."""
    datacenter = not model.has_fan
    idle = Gpu(
        model=model,
        index=index,
        bus_id=f"00000000:{bus.upper()}:00.0",
        uuid=gpu_uuid(host, index),
        pcie_gen=model.pcie_gen_max,
        pcie_width=model.pcie_width_max,
        temp_c=31 + index % 3 if datacenter else 36 + index % 4,
        fan_percent=None if datacenter else 30,
        pstate="P0" if datacenter else "P8",
        util_percent=0,
        mem_util_percent=0,
        power_draw_w=model.power_idle_w + index % 5,
        power_limit_w=model.power_default_w,
        memory_used_mib=1 if datacenter else 2,
        clocks=model.clocks_idle,
        reasons=frozenset({"gpu_idle"}),
        ecc_enabled=model.ecc and datacenter,
        persistence=datacenter,
    )
    return replace(idle, **changes)  # type: ignore[arg-type]


def loaded(gpu: Gpu, used_mib: int, util: int, process: str = "llama-server") -> Gpu:
    """``gpu`` busy serving a model: clocks up, memory held by one compute process."""
    model = gpu.model
    proc = GpuProcess(pid=4242 + gpu.index, name=process, used_mib=used_mib)
    return replace(
        gpu,
        pstate="P2" if model.has_fan else "P0",
        util_percent=util,
        mem_util_percent=util // 2,
        power_draw_w=round(model.power_default_w * 0.78, 2),
        memory_used_mib=used_mib + gpu.memory_used_mib,
        clocks=model.clocks_load,
        reasons=frozenset(),
        temp_c=gpu.temp_c + 30,
        fan_percent=None if gpu.fan_percent is None else 62,
        processes=(proc,),
    )


# --- CPUs ------------------------------------------------------------------------------------

_BASE = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
    "sse sse2 ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid "
    "aperfmperf pni pclmulqdq monitor ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt "
    "aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpb cat_l3 cdp_l3 hw_pstate ssbd "
    "mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a rdseed "
    "adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc "
    "cqm_mbm_total cqm_mbm_local"
)
_AVX512 = (
    "avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi umip pku "
    "ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid"
)
_AMX = "serialize tsxldtrk amx_bf16 avx512_fp16 amx_tile amx_int8"
_AMD = "svm extapic cr8_legacy sse4a misalignsse topoext perfctr_core"
_INTEL = "vmx est tm2 pdcm dca tsc_deadline_timer arat pln pts"


def cpu_flags(vendor: str, avx512: bool = False, amx: bool = False) -> tuple[str, ...]:
    """A realistic x86-64 flag list with or without AVX-512 and AMX."""
    extra = _AMD if vendor == "AuthenticAMD" else _INTEL
    parts = [_BASE, extra, _AVX512 if avx512 else "", _AMX if amx else ""]
    return tuple(" ".join(parts).split())


def amd_cpu(name: str, model: int, cores: int, sockets: int = 1, **kw: object) -> Cpu:
    """An AMD Zen CPU (family 25); ``avx512=True`` for Zen 4."""
    avx512 = bool(kw.pop("avx512", False))
    cpu = Cpu(
        model_name=name,
        vendor="AuthenticAMD",
        family=25,
        model=model,
        stepping=1,
        sockets=sockets,
        cores_per_socket=cores,
        threads_per_core=2,
        max_mhz=5083.0,
        min_mhz=550.0,
        base_mhz=3400.0,
        flags=cpu_flags("AuthenticAMD", avx512=avx512),
        l1d_kib=32,
        l1i_kib=32,
        l2_kib=1024 if avx512 else 512,
        l3_mib=max(32, cores * 4),
        numa_nodes=sockets,
        address_sizes="48 bits physical, 48 bits virtual",
    )
    return replace(cpu, **kw)  # type: ignore[arg-type]


def intel_cpu(name: str, model: int, cores: int, sockets: int = 1, **kw: object) -> Cpu:
    """An Intel CPU (family 6); ``avx512``/``amx`` select the SIMD generation."""
    avx512 = bool(kw.pop("avx512", False))
    amx = bool(kw.pop("amx", False))
    cpu = Cpu(
        model_name=name,
        vendor="GenuineIntel",
        family=6,
        model=model,
        stepping=8,
        sockets=sockets,
        cores_per_socket=cores,
        threads_per_core=2,
        max_mhz=3800.0,
        min_mhz=800.0,
        base_mhz=2000.0,
        flags=cpu_flags("GenuineIntel", avx512=avx512, amx=amx),
        l1d_kib=48,
        l1i_kib=32,
        l2_kib=2048,
        l3_mib=max(30, cores * 2),
        numa_nodes=sockets,
        microcode="0x2b0004b1",
    )
    return replace(cpu, **kw)  # type: ignore[arg-type]


TR_7970X = amd_cpu("AMD Ryzen Threadripper 7970X 32-Cores", 24, 32, avx512=True, max_mhz=5350.0)
R9_7950X = amd_cpu("AMD Ryzen 9 7950X 16-Core Processor", 97, 16, avx512=True, max_mhz=5881.0)
R9_5950X = amd_cpu("AMD Ryzen 9 5950X 16-Core Processor", 33, 16, max_mhz=5083.0)
TR_5975WX = amd_cpu("AMD Ryzen Threadripper PRO 5975WX 32-Cores", 8, 32, max_mhz=7006.0)
EPYC_9554 = amd_cpu(
    "AMD EPYC 9554 64-Core Processor",
    17,
    64,
    sockets=2,
    avx512=True,
    max_mhz=3762.0,
    base_mhz=3100.0,
    l3_mib=256,
)
XEON_8480 = intel_cpu(
    "Intel(R) Xeon(R) Platinum 8480+",
    143,
    56,
    sockets=2,
    avx512=True,
    amx=True,
    max_mhz=3800.0,
    l3_mib=105,
)
XEON_6248 = intel_cpu(
    "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
    85,
    20,
    sockets=2,
    avx512=True,
    stepping=7,
    max_mhz=3900.0,
    base_mhz=2500.0,
    l2_kib=1024,
    l3_mib=27,
    l1d_kib=32,
    address_sizes="46 bits physical, 48 bits virtual",
)
R7_7800X3D = amd_cpu(
    "AMD Ryzen 7 7800X3D 8-Core Processor", 97, 8, avx512=True, max_mhz=5050.0, l3_mib=96
)


# --- the lab's hosts -------------------------------------------------------------------------

_DGX_BUSES = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")
_LLAMA_CUDA = LlamaServer(build=6123, commit="4227c9be")


def _rtx4090() -> HostProfile:
    return HostProfile(
        name="rtx4090",
        group="consumer",
        cpu=TR_7970X,
        mem_total_kib=ram_kib(64),
        mem_available_kib=ram_kib(64) * 9 // 10,
        disk_bytes=disk_bytes(2),
        gpus=(make_gpu(RTX_4090, "rtx4090", 0, "01"),),
        llama_server=_LLAMA_CUDA,
        description="1x RTX 4090 24 GB, PCIe 4.0 x16, Threadripper 7970X (AVX-512), 64 GB",
    )


def _rtx3090_riser() -> HostProfile:
    gpu = make_gpu(RTX_3090, "rtx3090-riser", 0, "0A", pcie_width=8)
    return HostProfile(
        name="rtx3090-riser",
        group="consumer",
        cpu=R9_5950X,
        mem_total_kib=ram_kib(32),
        mem_available_kib=ram_kib(32) * 85 // 100,
        disk_bytes=disk_bytes(0.5),
        gpus=(gpu,),
        driver_version="535.183.01",
        cuda_version="12.2",
        description="1x RTX 3090 on an x8 riser (LnkSta x8, downgraded), Ryzen 5950X, 32 GB",
    )


def _a6000x2() -> HostProfile:
    gpus = tuple(make_gpu(RTX_A6000, "a6000x2", i, bus) for i, bus in enumerate(("21", "41")))
    return HostProfile(
        name="a6000x2",
        group="workstation",
        cpu=TR_5975WX,
        mem_total_kib=ram_kib(128),
        mem_available_kib=ram_kib(128) * 9 // 10,
        disk_bytes=disk_bytes(4),
        gpus=gpus,
        driver_version="550.90.07",
        llama_server=LlamaServer(build=5002, commit="2c3f8b85"),
        description="2x RTX A6000 48 GB, PCIe 4.0 x16, Threadripper PRO 5975WX, 128 GB",
    )


def _h100x8() -> HostProfile:
    gpus = tuple(make_gpu(H100_SXM5, "h100x8", i, bus) for i, bus in enumerate(_DGX_BUSES))
    return HostProfile(
        name="h100x8",
        group="datacenter",
        cpu=XEON_8480,
        mem_total_kib=ram_kib(2048),
        mem_available_kib=ram_kib(2048) * 95 // 100,
        disk_bytes=disk_bytes(15.36),
        gpus=gpus,
        driver_version="565.57.01",
        cuda_version="12.7",
        server_board=True,
        description="HGX 8x H100 SXM5 80 GB, PCIe 5.0 x16, 2x Xeon 8480+ (AMX), 2 TB, ECC on",
    )


def _rtx4080s() -> HostProfile:
    gpu = make_gpu(RTX_4080_SUPER, "rtx4080s", 0, "01", display_active=True, memory_used_mib=596)
    return HostProfile(
        name="rtx4080s",
        group="consumer",
        cpu=R7_7800X3D,
        mem_total_kib=ram_kib(64),
        mem_available_kib=ram_kib(64) * 8 // 10,
        disk_bytes=disk_bytes(2),
        gpus=(gpu,),
        driver_version="570.133.07",
        cuda_version="12.8",
        description="1x RTX 4080 SUPER 16 GB (desktop, display attached), 7800X3D, 64 GB",
    )


def _cpu_only() -> HostProfile:
    return HostProfile(
        name="cpu-only",
        group="cpu",
        cpu=EPYC_9554,
        mem_total_kib=ram_kib(256),
        mem_available_kib=ram_kib(256) * 95 // 100,
        disk_bytes=disk_bytes(8),
        smi="absent",
        server_board=True,
        llama_server=LlamaServer(build=6123, commit="4227c9be", cuda=False),
        description="no NVIDIA GPU (ASPEED BMC VGA only), 2x EPYC 9554, 256 GB",
    )


def _throttling() -> HostProfile:
    hot = loaded(make_gpu(RTX_4090, "throttling", 0, "01"), used_mib=21504, util=98)
    hot = replace(
        hot,
        temp_c=88,
        fan_percent=100,
        pstate="P2",
        power_draw_w=431.27,
        clocks=(1905, 10501, 1680),
        reasons=frozenset({"sw_thermal_slowdown", "hw_thermal_slowdown"}),
    )
    return HostProfile(
        name="throttling",
        group="consumer",
        cpu=R9_7950X,
        mem_total_kib=ram_kib(64),
        mem_available_kib=ram_kib(64) * 6 // 10,
        disk_bytes=disk_bytes(1),
        gpus=(hot,),
        llama_server=_LLAMA_CUDA,
        description="1x RTX 4090 at 88 C, thermal slowdown active, fan 100 %, 98 % busy",
    )


def _smi_fails() -> HostProfile:
    return HostProfile(
        name="smi-fails",
        group="faulty",
        cpu=R9_5950X,
        mem_total_kib=ram_kib(32),
        mem_available_kib=ram_kib(32) * 9 // 10,
        disk_bytes=disk_bytes(1),
        gpus=(make_gpu(RTX_3090, "smi-fails", 0, "0B"),),
        smi="fails",
        description="RTX 3090 in lspci, driver not loaded: nvidia-smi exits 9",
    )


def _smi_hangs() -> HostProfile:
    return HostProfile(
        name="smi-hangs",
        group="faulty",
        cpu=R9_7950X,
        mem_total_kib=ram_kib(64),
        mem_available_kib=ram_kib(64) * 9 // 10,
        disk_bytes=disk_bytes(1),
        gpus=(make_gpu(RTX_4090, "smi-hangs", 0, "01"),),
        smi="hangs",
        description="RTX 4090 in lspci, nvidia-smi never returns (stuck driver)",
    )


def _old_gpu() -> HostProfile:
    buses = ("18", "3B", "86", "AF")
    gpus = [make_gpu(V100_SXM2, "old-gpu", i, bus) for i, bus in enumerate(buses)]
    gpus[2] = replace(
        gpus[2],
        ecc_volatile_uncorrected=2,
        ecc_aggregate_uncorrected=2,
        ecc_aggregate_corrected=14,
        retired_dbe=2,
        retired_pending=True,
    )
    return HostProfile(
        name="old-gpu",
        group="datacenter",
        cpu=XEON_6248,
        mem_total_kib=ram_kib(384),
        mem_available_kib=ram_kib(384) * 9 // 10,
        disk_bytes=disk_bytes(3.84),
        gpus=tuple(gpus),
        driver_version="470.256.02",
        cuda_version="11.4",
        server_board=True,
        description="4x Tesla V100 SXM2 32 GB (CC 7.0), PCIe 3.0, driver 470; GPU 2 has 2 "
        "uncorrected ECC errors and pages pending retirement",
    )


_BUILDERS = (
    _rtx4090,
    _rtx3090_riser,
    _a6000x2,
    _h100x8,
    _rtx4080s,
    _cpu_only,
    _throttling,
    _smi_fails,
    _smi_hangs,
    _old_gpu,
)
PROFILES: dict[str, HostProfile] = {p.name: p for p in (build() for build in _BUILDERS)}
DEFAULT_PROFILES: tuple[str, ...] = tuple(PROFILES)
BROKEN_HOSTS: tuple[str, ...] = ("unreachable", "wrong-hostkey", "auth-fails")
GPU_GROUPS: tuple[str, ...] = ("consumer", "workstation", "datacenter")


def get_profile(name: str) -> HostProfile:
    """The named lab profile; KeyError lists the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown lab profile {name!r}; known: {', '.join(PROFILES)}") from None


# --- synthetic fleets for perf runs ----------------------------------------------------------

_SYNTH = (
    (RTX_4090, 1, "consumer", TR_7970X, 64),
    (RTX_3090, 1, "consumer", R9_5950X, 32),
    (RTX_A6000, 2, "workstation", TR_5975WX, 128),
    (RTX_4080_SUPER, 1, "consumer", R7_7800X3D, 64),
    (H100_SXM5, 8, "datacenter", XEON_8480, 2048),
    (RTX_3090, 4, "workstation", EPYC_9554, 512),
    (None, 0, "cpu", EPYC_9554, 256),
)


def synthetic_profile(i: int) -> HostProfile:
    """Host ``i`` of a perf fleet: cycles through GPU types, varies temps and loads."""
    model, count, group, cpu, ram = _SYNTH[i % len(_SYNTH)]
    name = f"synth-{i:03d}"
    gpus: list[Gpu] = []
    for n in range(count):
        assert model is not None
        gpu = make_gpu(model, name, n, f"{0x18 + 0x11 * n:02X}", temp_c=33 + (i + n) % 9)
        gpus.append(loaded(gpu, used_mib=model.memory_total_mib // 2, util=40) if i % 3 else gpu)
    return HostProfile(
        name=name,
        group=group,
        cpu=cpu,
        mem_total_kib=ram_kib(ram),
        mem_available_kib=ram_kib(ram) * (80 + i % 15) // 100,
        disk_bytes=disk_bytes(1 + i % 4),
        gpus=tuple(gpus),
        smi="ok" if gpus else "absent",
        server_board=group in ("datacenter", "cpu"),
        llama_server=_LLAMA_CUDA if gpus and i % 2 else None,
        description=f"synthetic host {i}: {count}x {model.product_name if model else 'no GPU'}",
    )
