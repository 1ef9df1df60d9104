"""``lspci -vvnn``, ``lscpu``, ``/proc/cpuinfo`` and ``/proc/meminfo`` of a HostProfile."""

from tests.lab.profiles import Cpu, Gpu, HostProfile

# --- lspci -vvnn -D --------------------------------------------------------------------------

_GTS = {1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s", 6: "64GT/s"}
_VENDORS = {
    "10de": "NVIDIA Corporation",
    "1458": "Gigabyte Technology Co., Ltd",
    "3842": "eVga.com. Corp.",
    "1462": "Micro-Star International Co., Ltd. [MSI]",
}


def _express_lines(kind: str, gen_max: int, width_max: int, gen: int, width: int) -> list[str]:
    def state(downgraded: bool) -> str:
        return "downgraded" if downgraded else "ok"

    return [
        f"\tCapabilities: [78] Express (v2) {kind}, MSI 00",
        "\t\tDevCap:\tMaxPayload 256 bytes, PhantFunc 0, Latency L0s unlimited, L1 <64us",
        "\t\t\tExtTag+ AttnBtn- AttnInd- PwrInd- RBE+ FLReset+",
        "\t\tDevCtl:\tCorrErr- NonFatalErr- FatalErr- UnsupReq-",
        "\t\t\tRlxdOrd+ ExtTag+ PhantFunc- AuxPwr- NoSnoop+ FLReset-",
        "\t\t\tMaxPayload 256 bytes, MaxReadReq 512 bytes",
        "\t\tDevSta:\tCorrErr- NonFatalErr- FatalErr- UnsupReq- AuxPwr- TransPend-",
        f"\t\tLnkCap:\tPort #0, Speed {_GTS[gen_max]}, Width x{width_max}, ASPM L0s L1, "
        "Exit Latency L0s <1us, L1 <4us",
        "\t\t\tClockPM+ Surprise- LLActRep- BwNot- ASPMOptComp+",
        "\t\tLnkCtl:\tASPM Disabled; RCB 64 bytes, Disabled- CommClk+",
        "\t\t\tExtSynch- ClockPM+ AutWidDis- BWInt- AutBWInt-",
        f"\t\tLnkSta:\tSpeed {_GTS[gen]} ({state(gen < gen_max)}), "
        f"Width x{width} ({state(width < width_max)})",
        "\t\t\tTrErr- Train- SlotClk+ DLActive- BWMgmt- ABWMgmt-",
        "\t\tDevCap2: Completion Timeout: Range AB, TimeoutDis+ NROPrPrP- LTR-",
        "\t\t\t 10BitTagComp+ 10BitTagReq+ OBFF Via message, ExtFmt- EETLPPrefix-",
        "\t\tDevCtl2: Completion Timeout: 50us to 50ms, TimeoutDis- LTR- OBFF Disabled,",
        "\t\t\t AtomicOpsCtl: ReqEn-",
        f"\t\tLnkCap2: Supported Link Speeds: 2.5-{_GTS[gen_max]}, Crosslink- Retimer+ "
        "2Retimers+ DRS-",
        f"\t\tLnkCtl2: Target Link Speed: {_GTS[gen_max]}, EnterCompliance- SpeedDis-",
        "\t\tLnkSta2: Current De-emphasis Level: -3.5dB, EqualizationComplete+ EqualizationPhase1+",
        "\t\t\t EqualizationPhase2+ EqualizationPhase3+ LinkEqualizationRequest-",
    ]


def _bdf(gpu: Gpu, function: int = 0) -> str:
    """lspci's address ("0000:0a:00.0") of a GPU's function."""
    return f"{gpu.bus_id[4:8]}:{gpu.bus_id[9:11]}:00.{function}".lower()


def _lspci_gpu(gpu: Gpu, profile: HostProfile) -> list[str]:
    model = gpu.model
    vga = model.pci_class == "0300"
    cls = "VGA compatible controller" if vga else "3D controller"
    prog_if = " (prog-if 00 [VGA controller])" if vga else ""
    sub_vendor, sub_device = model.pci_subsystem.split(":")
    sub_name = model.lspci_name if sub_vendor == "10de" else "Device"
    numa = [f"\tNUMA node: {gpu.index * profile.cpu.numa_nodes // len(profile.gpus)}"]
    lines = [
        f"{_bdf(gpu)} {cls} [{model.pci_class}]: NVIDIA Corporation {model.lspci_name} "
        f"[10de:{model.pci_device_id}] (rev a1){prog_if}",
        f"\tSubsystem: {_VENDORS[sub_vendor]} {sub_name} [{sub_vendor}:{sub_device}]",
        "\tControl: I/O+ Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR- "
        "FastB2B- DisINTx+",
        "\tStatus: Cap+ 66MHz- UDF- FastB2B- ParErr- DEVSEL=fast >TAbort- <TAbort- <MAbort- "
        ">SERR- <PERR- INTx-",
        "\tLatency: 0",
        f"\tInterrupt: pin A routed to IRQ {120 + gpu.index}",
        *(numa if profile.server_board else []),
        f"\tIOMMU group: {20 + gpu.index * 3}",
        f"\tRegion 0: Memory at f{gpu.index:x}000000 (32-bit, non-prefetchable) [size=16M]",
        "\tCapabilities: [60] Power Management version 3",
        "\t\tFlags: PMEClk- DSI- D1- D2- AuxCurrent=0mA PME(D0+,D1-,D2-,D3hot+,D3cold-)",
        "\t\tStatus: D0 NoSoftRst+ PME-Enable- DSel=0 DScale=0 PME-",
        *_express_lines(
            "Legacy Endpoint" if vga else "Endpoint",
            model.pcie_gen_max,
            model.pcie_width_max,
            gpu.pcie_gen,
            gpu.pcie_width,
        ),
    ]
    if profile.smi != "fails":
        lines.append("\tKernel driver in use: nvidia")
    lines += ["\tKernel modules: nvidiafb, nouveau, nvidia_drm, nvidia", ""]
    if model.audio:
        name, device = model.audio
        lines += [
            f"{_bdf(gpu, 1)} Audio device [0403]: NVIDIA Corporation {name} [10de:{device}] "
            "(rev a1)",
            f"\tSubsystem: {_VENDORS[sub_vendor]} Device [{sub_vendor}:{sub_device}]",
            "\tKernel driver in use: snd_hda_intel",
            "\tKernel modules: snd_hda_intel",
            "",
        ]
    return lines


_AMD_BRIDGE = "Advanced Micro Devices, Inc. [AMD] Device [1022:14d8]"
_INTEL_BRIDGE = "Intel Corporation Device [8086:09a2] (rev 04)"
_CONTROL_OFF = (
    "\tControl: I/O- Mem- BusMaster- SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR- "
    "FastB2B- DisINTx-"
)
_NVME = [
    "0000:c1:00.0 Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd NVMe SSD "
    "Controller PM9A1/PM9A3/980PRO [144d:a80a] (prog-if 02 [NVM Express])",
    "\tSubsystem: Samsung Electronics Co Ltd SSD 980 PRO [144d:a801]",
    "\tCapabilities: [70] Express (v2) Endpoint, MSI 00",
    "\t\tLnkCap:\tPort #0, Speed 16GT/s, Width x4, ASPM L1, Exit Latency L1 <64us",
    "\t\tLnkSta:\tSpeed 16GT/s (ok), Width x4 (ok)",
    "\tKernel driver in use: nvme",
    "\tKernel modules: nvme",
    "",
]
_ASPEED = [
    "0000:03:00.0 VGA compatible controller [0300]: ASPEED Technology, Inc. ASPEED Graphics "
    "Family [1a03:2000] (rev 52) (prog-if 00 [VGA controller])",
    "\tSubsystem: ASPEED Technology, Inc. ASPEED Graphics Family [1a03:2000]",
    _CONTROL_OFF,
    "\tKernel driver in use: ast",
    "\tKernel modules: ast",
    "",
]


def _lspci_board(profile: HostProfile) -> list[tuple[str, list[str]]]:
    """The non-GPU devices: a host bridge, an NVMe disk and (servers) the BMC's VGA."""
    bridge = _AMD_BRIDGE if profile.cpu.vendor == "AuthenticAMD" else _INTEL_BRIDGE
    devices = [
        ("0000:00:00.0", [f"0000:00:00.0 Host bridge [0600]: {bridge}", _CONTROL_OFF, ""]),
        ("0000:c1:00.0", _NVME),
    ]
    if profile.server_board:
        devices.append(("0000:03:00.0", _ASPEED))
    return devices


def lspci(profile: HostProfile, nvidia_only: bool = False) -> str:
    """``lspci -vvnn -D`` (or ``-d 10de:`` with ``nvidia_only``), devices in bus order."""
    devices = [] if nvidia_only else _lspci_board(profile)
    devices += [(_bdf(gpu), _lspci_gpu(gpu, profile)) for gpu in profile.gpus]
    return "\n".join(line for _, block in sorted(devices) for line in block)


# --- CPU and memory: lscpu, /proc/cpuinfo, /proc/meminfo -------------------------------------


def _size(kib: float) -> str:
    """lscpu's cache size: "192 KiB", "5 MiB", "5.3 MiB"."""
    if kib < 1024:
        return f"{kib:g} KiB"
    mib = kib / 1024
    return f"{mib:.0f} MiB" if mib == int(mib) else f"{mib:.1f} MiB"


def _cache(per_instance_kib: float, instances: int) -> str:
    noun = "instance" if instances == 1 else "instances"
    return f"{_size(per_instance_kib * instances)} ({instances} {noun})"


def _cpu_ranges(cpu: Cpu, node: int) -> str:
    """Logical CPUs of NUMA node ``node``: its cores, then their SMT siblings."""
    cores = cpu.sockets * cpu.cores_per_socket
    per_node = cores // cpu.numa_nodes
    first = node * per_node
    ranges = [f"{first}-{first + per_node - 1}"]
    if cpu.threads_per_core > 1:
        ranges.append(f"{cores + first}-{cores + first + per_node - 1}")
    return ",".join(ranges)


def lscpu(cpu: Cpu) -> str:
    """``lscpu`` as util-linux 2.38 prints it to a pipe (flat "Key: value" lines)."""
    cores = cpu.sockets * cpu.cores_per_socket
    amd = cpu.vendor == "AuthenticAMD"
    rows: list[tuple[str, str]] = [
        ("Architecture", "x86_64"),
        ("CPU op-mode(s)", "32-bit, 64-bit"),
        ("Address sizes", cpu.address_sizes),
        ("Byte Order", "Little Endian"),
        ("CPU(s)", str(cpu.threads)),
        ("On-line CPU(s) list", f"0-{cpu.threads - 1}"),
        ("Vendor ID", cpu.vendor),
        ("Model name", cpu.model_name),
        ("CPU family", str(cpu.family)),
        ("Model", str(cpu.model)),
        ("Thread(s) per core", str(cpu.threads_per_core)),
        ("Core(s) per socket", str(cpu.cores_per_socket)),
        ("Socket(s)", str(cpu.sockets)),
        ("Stepping", str(cpu.stepping)),
        *([("Frequency boost", "enabled")] if amd else []),
        ("CPU(s) scaling MHz", "41%"),
        ("CPU max MHz", f"{cpu.max_mhz:.4f}"),
        ("CPU min MHz", f"{cpu.min_mhz:.4f}"),
        ("BogoMIPS", f"{cpu.base_mhz * 2:.2f}"),
        ("Flags", " ".join(cpu.flags)),
        ("Virtualization", "AMD-V" if amd else "VT-x"),
        ("L1d cache", _cache(cpu.l1d_kib, cores)),
        ("L1i cache", _cache(cpu.l1i_kib, cores)),
        ("L2 cache", _cache(cpu.l2_kib, cores)),
        ("L3 cache", _cache(cpu.l3_mib * 1024, cpu.sockets)),
        ("NUMA node(s)", str(cpu.numa_nodes)),
        *((f"NUMA node{n} CPU(s)", _cpu_ranges(cpu, n)) for n in range(cpu.numa_nodes)),
        ("Vulnerability Gather data sampling", "Not affected"),
        ("Vulnerability Meltdown", "Not affected"),
        (
            "Vulnerability Spec store bypass",
            "Mitigation; Speculative Store Bypass disabled via prctl",
        ),
        (
            "Vulnerability Spectre v1",
            "Mitigation; usercopy/swapgs barriers and __user pointer sanitization",
        ),
    ]
    width = max(len(key) for key, _ in rows) + 2
    return "".join(f"{key + ':':<{width}}{value}\n" for key, value in rows)


def cpuinfo(cpu: Cpu) -> str:
    """``/proc/cpuinfo``: one block per logical CPU."""
    cores = cpu.sockets * cpu.cores_per_socket
    amd = cpu.vendor == "AuthenticAMD"
    cache = f"{cpu.l2_kib} KB" if amd else f"{cpu.l3_mib * 1024} KB"
    flags = " ".join(cpu.flags)
    blocks = []
    for n in range(cpu.threads):
        core = n % cores
        socket = core // cpu.cores_per_socket
        core_id = core % cpu.cores_per_socket
        apic = socket * 128 + core_id * 2 + n // cores
        blocks.append(
            f"processor\t: {n}\nvendor_id\t: {cpu.vendor}\ncpu family\t: {cpu.family}\n"
            f"model\t\t: {cpu.model}\nmodel name\t: {cpu.model_name}\n"
            f"stepping\t: {cpu.stepping}\nmicrocode\t: {cpu.microcode}\n"
            f"cpu MHz\t\t: {cpu.base_mhz:.3f}\ncache size\t: {cache}\n"
            f"physical id\t: {socket}\nsiblings\t: {cpu.cores_per_socket * cpu.threads_per_core}\n"
            f"core id\t\t: {core_id}\ncpu cores\t: {cpu.cores_per_socket}\n"
            f"apicid\t\t: {apic}\ninitial apicid\t: {apic}\nfpu\t\t: yes\n"
            f"fpu_exception\t: yes\ncpuid level\t: {16 if amd else 32}\nwp\t\t: yes\n"
            f"flags\t\t: {flags}\nbugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2\n"
            f"bogomips\t: {cpu.base_mhz * 2:.2f}\n"
            + ("TLB size\t: 3584 4K pages\n" if amd else "")
            + "clflush size\t: 64\ncache_alignment\t: 64\n"
            f"address sizes\t: {cpu.address_sizes}\npower management:\n\n"
        )
    return "".join(blocks)


def meminfo(profile: HostProfile) -> str:
    """``/proc/meminfo`` with the profile's total and available memory."""
    total, available = profile.mem_total_kib, profile.mem_available_kib
    cached = min(available // 3, total // 4) // 4 * 4
    free = available - cached
    used = total - available
    swap = profile.swap_total_kib
    rows = [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", available),
        ("Buffers", 281_604),
        ("Cached", cached),
        ("SwapCached", 0),
        ("Active", used // 2 + cached // 2),
        ("Inactive", used // 3 + cached // 2),
        ("Active(anon)", used // 2),
        ("Inactive(anon)", used // 3),
        ("Active(file)", cached // 2),
        ("Inactive(file)", cached // 2),
        ("Unevictable", 30_312),
        ("Mlocked", 27_528),
        ("SwapTotal", swap),
        ("SwapFree", swap),
        ("Zswap", 0),
        ("Zswapped", 0),
        ("Dirty", 1_284),
        ("Writeback", 0),
        ("AnonPages", used * 5 // 6),
        ("Mapped", 402_116),
        ("Shmem", 51_236),
        ("KReclaimable", 310_988),
        ("Slab", 612_420),
        ("SReclaimable", 310_988),
        ("SUnreclaim", 301_432),
        ("KernelStack", 28_640),
        ("PageTables", 41_872),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", total // 2 + swap),
        ("Committed_AS", used + 4_000_000),
        ("VmallocTotal", 34_359_738_367),
        ("VmallocUsed", 215_404),
        ("VmallocChunk", 0),
        ("Percpu", 61_440),
        ("HardwareCorrupted", 0),
        ("AnonHugePages", 1_046_528),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
    ]
    lines = [f"{key + ':':<16}{value:>8} kB" for key, value in rows]
    lines += [
        f"{key + ':':<16}{0:>8}"
        for key in ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp")
    ]
    lines += [
        f"{'Hugepagesize:':<16}{2048:>8} kB",
        f"{'Hugetlb:':<16}{0:>8} kB",
        f"{'DirectMap4k:':<16}{1_257_472:>8} kB",
        f"{'DirectMap2M:':<16}{total // 8 // 2048 * 2048:>8} kB",
        f"{'DirectMap1G:':<16}{total // 1048576 * 1048576:>8} kB",
    ]
    return "\n".join(lines) + "\n"
