"""Render a ``HostProfile`` into what the host's tools print, in their real formats.

Formats follow public captures of real machines (see ``shared/real-outputs/INDEX.md``); the
text is generated here from profile values, never copied. Where the real format changed with
the driver, the profile's driver version picks the era:

- driver < 530: 79-column table, ``clocks_throttle_reasons``, ``power_readings``;
- driver >= 535: 89-column table, ``clocks_event_reasons``, ``gpu_power_readings``;
- driver >= 570: power draw split into ``average_power_draw`` / ``instant_power_draw``;
- Ada and Hopper (driver >= 525) report temperatures as T.Limit margins, older GPUs as
  absolute thresholds (``gpu_temp_slow_threshold``...);
- Volta and older (or driver < 510) count ECC errors as ``single_bit``/``double_bit``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from xml.sax.saxutils import escape

from tests.lab import render_query
from tests.lab.profiles import EVENT_REASONS, Cpu, Gpu, HostProfile, LlamaServer

SMI_FAILED = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n\n"
)
NA = "N/A"


class Raw(str):
    """Text that nvidia-smi prints on its own line inside an element (``<mig_devices>``)."""


Node = tuple[str, "str | list[Node] | None"]


# --- XML (nvidia-smi -q -x) ------------------------------------------------------------------


def _xml_lines(nodes: Iterable[Node], depth: int) -> list[str]:
    pad = "    " * depth
    lines: list[str] = []
    for tag, value in nodes:
        if isinstance(value, Raw):
            lines += [f"{pad}<{tag}>", f"{pad}    {value}", f"{pad}</{tag}>"]
        elif isinstance(value, str):
            lines.append(f"{pad}<{tag}>{escape(value)}</{tag}>")
        else:
            lines.append(f"{pad}<{tag}>")
            lines.extend(_xml_lines(value or [], depth + 1))
            lines.append(f"{pad}</{tag}>")
    return lines


def _w(value: float) -> str:
    return f"{value:.2f} W"


def _mib(value: int) -> str:
    return f"{value} MiB"


def _pct(value: int | None) -> str:
    return NA if value is None else f"{value} %"


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


def _pci_nodes(gpu: Gpu, driver: int) -> list[Node]:
    model = gpu.model
    domain, bus, devfn = gpu.bus_id.split(":")
    vendor, device = model.pci_subsystem.upper().split(":")
    gen: list[Node] = [
        ("max_link_gen", str(model.pcie_gen_max)),
        ("current_link_gen", str(gpu.pcie_gen)),
    ]
    if driver >= 525:
        gen += [
            ("device_current_link_gen", str(gpu.pcie_gen)),
            ("max_device_link_gen", str(model.pcie_gen_max)),
            ("max_host_link_gen", str(model.pcie_gen_max)),
        ]
    link: list[Node] = [
        ("pcie_gen", gen),
        (
            "link_widths",
            [
                ("max_link_width", f"{model.pcie_width_max}x"),
                ("current_link_width", f"{gpu.pcie_width}x"),
            ],
        ),
    ]
    nodes: list[Node] = [
        ("pci_bus", bus),
        ("pci_device", devfn.split(".")[0]),
        ("pci_domain", domain[-4:]),
        ("pci_device_id", f"{model.pci_device_id.upper()}10DE"),
        ("pci_bus_id", gpu.bus_id),
        ("pci_sub_system_id", f"{device}{vendor}"),
        ("pci_gpu_link_info", link),
        ("pci_bridge_chip", [("bridge_chip_type", NA), ("bridge_chip_fw", NA)]),
        ("replay_counter", "0"),
        ("replay_rollover_counter", "0"),
        ("tx_util", f"{gpu.util_percent * 1200} KB/s"),
        ("rx_util", f"{gpu.util_percent * 800} KB/s"),
    ]
    if driver >= 525:
        nodes += [("atomic_caps_inbound", NA), ("atomic_caps_outbound", NA)]
    return nodes


def _reason_nodes(gpu: Gpu, driver: int) -> Node:
    kind = "event" if driver >= 535 else "throttle"
    reasons: list[Node] = [
        (f"clocks_{kind}_reason_{name}", "Active" if name in gpu.reasons else "Not Active")
        for name in EVENT_REASONS
    ]
    return (f"clocks_{kind}_reasons", reasons)


def _memory_nodes(gpu: Gpu, driver: int) -> list[Node]:
    model = gpu.model
    fb: list[Node] = [("total", _mib(model.memory_total_mib))]
    if driver >= 510:
        fb.append(("reserved", _mib(model.memory_reserved_mib)))
    fb += [("used", _mib(gpu.memory_used_mib)), ("free", _mib(gpu.memory_free_mib))]
    bar1_used = 5 if gpu.memory_used_mib > 100 else 1
    return [
        ("fb_memory_usage", fb),
        (
            "bar1_memory_usage",
            [
                ("total", _mib(model.bar1_mib)),
                ("used", _mib(bar1_used)),
                ("free", _mib(model.bar1_mib - bar1_used)),
            ],
        ),
        ("compute_mode", "Default"),
        (
            "utilization",
            [
                ("gpu_util", _pct(gpu.util_percent)),
                ("memory_util", _pct(gpu.mem_util_percent)),
                ("encoder_util", "0 %"),
                ("decoder_util", "0 %"),
                *([("jpeg_util", "0 %"), ("ofa_util", "0 %")] if driver >= 525 else []),
            ],
        ),
    ]


def _count(gpu: Gpu, value: int) -> str:
    return str(value) if gpu.model.ecc and gpu.ecc_enabled else NA


def _legacy_ecc_block(gpu: Gpu, total: int) -> list[Node]:
    def v(x: int) -> str:
        return _count(gpu, x)

    return [
        ("device_memory", v(total)),
        ("register_file", v(0)),
        ("l1_cache", v(0)),
        ("l2_cache", v(0)),
        ("texture_memory", NA),
        ("texture_shm", NA),
        ("cbu", v(0)),
        ("total", v(total)),
    ]


def _ecc_errors(gpu: Gpu, driver: int) -> Node:
    legacy = driver < 510 or gpu.model.architecture in ("Volta", "Pascal")
    scopes = (
        ("volatile", gpu.ecc_volatile_corrected, gpu.ecc_volatile_uncorrected),
        ("aggregate", gpu.ecc_aggregate_corrected, gpu.ecc_aggregate_uncorrected),
    )
    nodes: list[Node] = []
    for scope, corrected, uncorrected in scopes:
        if legacy:
            nodes.append(
                (
                    scope,
                    [
                        ("single_bit", _legacy_ecc_block(gpu, corrected)),
                        ("double_bit", _legacy_ecc_block(gpu, uncorrected)),
                    ],
                )
            )
        else:
            nodes.append(
                (
                    scope,
                    [
                        ("sram_correctable", _count(gpu, 0)),
                        ("sram_uncorrectable", _count(gpu, 0)),
                        ("dram_correctable", _count(gpu, corrected)),
                        ("dram_uncorrectable", _count(gpu, uncorrected)),
                    ],
                )
            )
    return ("ecc_errors", nodes)


def _pagelist(count: int, seed: int) -> list[Node] | None:
    if not count:
        return None
    return [("retired_page_address", f"0x{0x5A1F0 + seed * 0x31 + k:016x}") for k in range(count)]


def _retired_pages(gpu: Gpu) -> Node:
    if gpu.model.row_remap or not (gpu.model.ecc and gpu.ecc_enabled):
        retirement: list[Node] = [
            ("multiple_single_bit_retirement", [("retired_count", NA), ("retired_pagelist", NA)]),
            ("double_bit_retirement", [("retired_count", NA), ("retired_pagelist", NA)]),
            ("pending_blacklist", NA),
            ("pending_retirement", NA),
        ]
        return ("retired_pages", retirement)
    pending = "Yes" if gpu.retired_pending else "No"
    return (
        "retired_pages",
        [
            (
                "multiple_single_bit_retirement",
                [
                    ("retired_count", str(gpu.retired_sbe)),
                    ("retired_pagelist", _pagelist(gpu.retired_sbe, gpu.index)),
                ],
            ),
            (
                "double_bit_retirement",
                [
                    ("retired_count", str(gpu.retired_dbe)),
                    ("retired_pagelist", _pagelist(gpu.retired_dbe, gpu.index + 7)),
                ],
            ),
            ("pending_blacklist", pending),
            ("pending_retirement", pending),
        ],
    )


def _remapped_rows(gpu: Gpu) -> Node:
    if not gpu.model.row_remap:
        return ("remapped_rows", NA)
    banks = "2560" if gpu.model.hbm else "192"
    histogram: list[Node] = [
        ("row_remapper_histogram_max", f"{banks} bank(s)"),
        ("row_remapper_histogram_high", "0 bank(s)"),
        ("row_remapper_histogram_partial", "0 bank(s)"),
        ("row_remapper_histogram_low", "0 bank(s)"),
        ("row_remapper_histogram_none", "0 bank(s)"),
    ]
    return (
        "remapped_rows",
        [
            ("remapped_row_corr", "0"),
            ("remapped_row_unc", "0"),
            ("remapped_row_pending", "No"),
            ("remapped_row_failure", "No"),
            ("row_remapper_histogram", histogram),
        ],
    )


def _c(value: int | None) -> str:
    return NA if value is None else f"{value} C"


def _temperature(gpu: Gpu, driver: int) -> list[Node]:
    model = gpu.model
    mem_temp = _c(gpu.temp_c + 6) if model.hbm else NA
    target = _c(model.temp_target_c)
    margin = gpu.tlimit_margin_c
    if margin is not None and driver >= 525:
        temps: list[Node] = [
            ("gpu_temp", _c(gpu.temp_c)),
            ("gpu_temp_tlimit", _c(margin)),
            ("gpu_temp_max_tlimit_threshold", _c(model.temp_shutdown_c)),
            ("gpu_temp_slow_tlimit_threshold", _c(model.temp_slowdown_c)),
            ("gpu_temp_max_gpu_tlimit_threshold", _c(model.temp_max_gpu_c)),
            ("gpu_target_temperature", target),
            ("memory_temp", mem_temp),
            ("gpu_temp_max_mem_tlimit_threshold", "0 C" if model.hbm else NA),
        ]
    else:
        temps = [("gpu_temp", _c(gpu.temp_c))]
        if driver >= 525:
            temps.append(("gpu_temp_tlimit", NA))
        temps += [
            ("gpu_temp_max_threshold", _c(model.temp_shutdown_c)),
            ("gpu_temp_slow_threshold", _c(model.temp_slowdown_c)),
            ("gpu_temp_max_gpu_threshold", _c(model.temp_max_gpu_c)),
            ("gpu_target_temperature", target),
            ("memory_temp", mem_temp),
            ("gpu_temp_max_mem_threshold", "95 C" if model.hbm else NA),
        ]
    return [("temperature", temps)]


def _power(gpu: Gpu, driver: int) -> list[Node]:
    model = gpu.model
    limits: list[Node] = [
        ("default_power_limit", _w(model.power_default_w)),
        ("min_power_limit", _w(model.power_min_w)),
        ("max_power_limit", _w(model.power_max_w)),
    ]
    if driver < 530:
        return [
            (
                "power_readings",
                [
                    ("power_state", gpu.pstate),
                    ("power_management", "Supported"),
                    ("power_draw", _w(gpu.power_draw_w)),
                    ("power_limit", _w(gpu.power_limit_w)),
                    limits[0],
                    ("enforced_power_limit", _w(gpu.power_limit_w)),
                    *limits[1:],
                ],
            )
        ]
    draw: list[Node] = [("power_draw", _w(gpu.power_draw_w))]
    if driver >= 570:
        draw = [
            ("average_power_draw", _w(gpu.power_draw_w)),
            ("instant_power_draw", _w(gpu.power_draw_w + 0.37)),
        ]
    return [
        (
            "gpu_power_readings",
            [
                ("power_state", gpu.pstate),
                *draw,
                ("current_power_limit", _w(gpu.power_limit_w)),
                ("requested_power_limit", _w(gpu.power_limit_w)),
                *limits,
            ],
        )
    ]


def _clocks(gpu: Gpu) -> list[Node]:
    graphics, mem, video = gpu.clocks
    max_g, max_m, max_v = gpu.model.clocks_max
    apps = not gpu.model.has_fan

    def mhz(value: int) -> str:
        return f"{value} MHz"

    app_clocks: list[Node] = [
        ("graphics_clock", mhz(gpu.model.clocks_load[0]) if apps else NA),
        ("mem_clock", mhz(max_m) if apps else NA),
    ]
    return [
        (
            "clocks",
            [
                ("graphics_clock", mhz(graphics)),
                ("sm_clock", mhz(graphics)),
                ("mem_clock", mhz(mem)),
                ("video_clock", mhz(video)),
            ],
        ),
        ("applications_clocks", app_clocks),
        ("default_applications_clocks", app_clocks),
        (
            "max_clocks",
            [
                ("graphics_clock", mhz(max_g)),
                ("sm_clock", mhz(max_g)),
                ("mem_clock", mhz(max_m)),
                ("video_clock", mhz(max_v)),
            ],
        ),
    ]


def _processes(gpu: Gpu) -> Node:
    infos: list[Node] = [
        (
            "process_info",
            [
                ("gpu_instance_id", NA),
                ("compute_instance_id", NA),
                ("pid", str(proc.pid)),
                ("type", proc.type),
                ("process_name", proc.name),
                ("used_memory", _mib(proc.used_mib)),
            ],
        )
        for proc in gpu.processes
    ]
    return ("processes", infos or None)


def _identity(gpu: Gpu, driver: int) -> list[Node]:
    model = gpu.model
    mig = _enabled(gpu.mig_enabled) if model.mig else NA
    nodes: list[Node] = [
        ("product_name", model.product_name),
        ("product_brand", model.brand),
        ("product_architecture", model.architecture),
        ("display_mode", _enabled(gpu.display_active)),
        ("display_active", _enabled(gpu.display_active)),
        ("persistence_mode", _enabled(gpu.persistence)),
    ]
    if driver >= 535:
        nodes.append(("addressing_mode", "None"))
    return [
        *nodes,
        ("mig_mode", [("current_mig", mig), ("pending_mig", mig)]),
        ("mig_devices", Raw("None")),
        ("accounting_mode", "Disabled"),
        ("accounting_mode_buffer_size", "4000"),
        ("serial", f"16542{gpu.index:08d}" if not model.has_fan else NA),
        ("uuid", gpu.uuid),
        ("minor_number", str(gpu.index)),
        ("vbios_version", model.vbios),
        ("multigpu_board", "No"),
        ("board_id", f"0x{int(gpu.bus_id.split(':')[1], 16) << 8:x}"),
    ]


def _gpu_nodes(gpu: Gpu, driver: int) -> list[Node]:
    return [
        *_identity(gpu, driver),
        ("pci", _pci_nodes(gpu, driver)),
        ("fan_speed", _pct(gpu.fan_percent)),
        ("performance_state", gpu.pstate),
        _reason_nodes(gpu, driver),
        *_memory_nodes(gpu, driver),
        (
            "ecc_mode",
            [
                ("current_ecc", _enabled(gpu.ecc_enabled) if gpu.model.ecc else NA),
                ("pending_ecc", _enabled(gpu.ecc_enabled) if gpu.model.ecc else NA),
            ],
        ),
        _ecc_errors(gpu, driver),
        _retired_pages(gpu),
        _remapped_rows(gpu),
        *_temperature(gpu, driver),
        *_power(gpu, driver),
        *_clocks(gpu),
        _processes(gpu),
        ("accounted_processes", None),
    ]


def _dtd(driver: int) -> str:
    return "v11" if driver < 525 else "v12" if driver < 580 else "v13"


def nvsmi_xml(profile: HostProfile, now: float | None = None) -> str:
    """``nvidia-smi -q -x``."""
    driver = profile.driver_major
    stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(now))
    lines = [
        '<?xml version="1.0" ?>',
        f'<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_{_dtd(driver)}.dtd">',
        "<nvidia_smi_log>",
        *_xml_lines(
            [
                ("timestamp", stamp),
                ("driver_version", profile.driver_version),
                ("cuda_version", profile.cuda_version),
                ("attached_gpus", str(len(profile.gpus))),
            ],
            1,
        ),
    ]
    for gpu in profile.gpus:
        body = _xml_lines(_gpu_nodes(gpu, driver), 2)
        lines += [f'    <gpu id="{gpu.bus_id}">', *body, "    </gpu>", ""]
    lines.append("</nvidia_smi_log>")
    return "\n".join(lines) + "\n"


# --- the default table (nvidia-smi with no arguments) ----------------------------------------


def _table_name(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def _table_cells(gpu: Gpu, modern: bool) -> tuple[str, str, str]:
    """The three rows of one GPU's box in the modern (89) or legacy (79 column) layout."""
    model = gpu.model
    fan = "N/A" if gpu.fan_percent is None else f"{gpu.fan_percent}%"
    pm = "On" if gpu.persistence else "Off"
    disp = "On" if gpu.display_active else "Off"
    ecc = (
        str(gpu.ecc_volatile_uncorrected)
        if model.ecc and gpu.ecc_enabled
        else ("Off" if model.ecc else "N/A")
    )
    mig = ("Enabled" if gpu.mig_enabled else "Disabled") if model.mig else "N/A"
    used, total = f"{gpu.memory_used_mib}MiB", f"{model.memory_total_mib}MiB"
    draw, cap = f"{gpu.power_draw_w:.0f}W", f"{gpu.power_limit_w:.0f}W"
    util = f"{gpu.util_percent}%"
    if modern:
        name = _table_name(model.product_name, 27)
        row1 = f"| {gpu.index:>3}  {name:<31}{pm:<3} |   {gpu.bus_id}{disp:>4} | {ecc:>20} |"
        row2 = (
            f"|{fan:>4}   {gpu.temp_c:>2}C    {gpu.pstate:<2}{draw:>16} / {cap:>5} |"
            f" {used:>10} / {total:>9} | {util:>7}{'Default':>13} |"
        )
        row3 = f"| {'':<39} | {'':<22} | {mig:>20} |"
    else:
        name = _table_name(model.product_name, 18)
        row1 = f"| {gpu.index:>3}  {name:<18}  {pm:<3}  | {gpu.bus_id}{disp:>4} | {ecc:>20} |"
        row2 = (
            f"|{fan:>4}   {gpu.temp_c:>2}C    {gpu.pstate:<2}{draw:>7} / {cap:>4} |"
            f"{used:>10} / {total:>8} | {util:>7}{'Default':>13} |"
        )
        row3 = f"| {'':<29} | {'':<20} | {mig:>20} |"
    return row1, row2, row3


def _process_rows(profile: HostProfile, width: int) -> list[str]:
    rows = []
    name_width = width - 49
    for gpu in profile.gpus:
        for proc in gpu.processes:
            name = _table_name(proc.name, name_width)
            rows.append(
                f"|  {gpu.index:>3}   N/A  N/A  {proc.pid:>8}  {proc.type:>5}   "
                f"{name:<{name_width}}{proc.used_mib:>7}MiB |"
            )
    return rows or [f"|  {'No running processes found':<{width - 5}} |"]


def nvsmi_table(profile: HostProfile, now: float | None = None) -> str:
    """``nvidia-smi`` (no arguments): the summary table."""
    modern = profile.driver_major >= 530
    width = 91 if modern else 79
    cols = (41, 24, 22) if modern else (31, 22, 22)
    border = "+" + "+".join("-" * c for c in cols) + "+"
    rule = "|" + "+".join("=" * c for c in cols) + "|"
    drv, cuda = profile.driver_version, profile.cuda_version
    if modern:
        title = f"| NVIDIA-SMI {drv:<22} Driver Version: {drv:<14} CUDA Version: {cuda:<9}|"
        head = [
            "| GPU  Name                 Persistence-M | Bus-Id          Disp.A "
            "| Volatile Uncorr. ECC |",
            "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage "
            "| GPU-Util  Compute M. |",
        ]
    else:
        title = f"| NVIDIA-SMI {drv:<12} Driver Version: {drv:<12} CUDA Version: {cuda:<9}|"
        head = [
            "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |",
            "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |",
        ]
    head.append("|" + " " * (cols[0]) + "|" + " " * cols[1] + "|" + "MIG M. ".rjust(cols[2]) + "|")
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))
    lines = [f"{stamp}       ", "+" + "-" * (width - 2) + "+", title, "|" + border[1:], *head, rule]
    for gpu in profile.gpus:
        lines += [*_table_cells(gpu, modern), border]
    columns = "|  GPU   GI   CI        PID   Type   Process name"
    columns += " " * (30 if modern else 18) + "GPU Memory |"
    usage = "|        ID   ID".ljust(columns.index("GPU Memory")) + "Usage"
    lines += [
        " " * (width - 2) if modern else "",
        "+" + "-" * (width - 2) + "+",
        f"| {'Processes:':<{width - 3}}|",
        columns,
        usage.ljust(width - 1) + "|",
        "|" + "=" * (width - 2) + "|",
        *_process_rows(profile, width),
        "+" + "-" * (width - 2) + "+",
    ]
    return "\n".join(lines) + "\n"


def nvsmi_list(profile: HostProfile) -> str:
    """``nvidia-smi -L``."""
    return "".join(
        f"GPU {gpu.index}: {gpu.model.product_name} (UUID: {gpu.uuid})\n" for gpu in profile.gpus
    )


def nvlink_status(profile: HostProfile) -> str:
    """``nvidia-smi nvlink -s``: nothing on PCIe-only hosts, every link's speed on SXM boards."""
    out = []
    for gpu in profile.gpus:
        if not gpu.model.nvlinks:
            continue
        out.append(f"GPU {gpu.index}: {gpu.model.product_name} (UUID: {gpu.uuid})\n")
        speed = f"{gpu.model.nvlink_gbps:.3f} GB/s"
        out += [f"         Link {n}: {speed}\n" for n in range(gpu.model.nvlinks)]
    return "".join(out)


def llama_version(server: LlamaServer, profile: HostProfile) -> str:
    """What ``llama-server --version`` writes to stderr (CUDA builds list the devices first)."""
    lines = []
    if server.cuda and profile.gpus:
        lines += [
            "ggml_cuda_init: GGML_CUDA_FORCE_MMQ:    no",
            "ggml_cuda_init: GGML_CUDA_FORCE_CUBLAS: no",
            f"ggml_cuda_init: found {len(profile.gpus)} CUDA devices:",
            *(
                f"  Device {gpu.index}: {gpu.model.product_name}, compute capability "
                f"{gpu.model.compute_capability}, VMM: yes"
                for gpu in profile.gpus
            ),
        ]
    lines += [
        f"version: {server.build} ({server.commit})",
        f"built with {server.compiler} for x86_64-linux-gnu",
    ]
    return "\n".join(lines) + "\n"


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
