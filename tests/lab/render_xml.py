"""``nvidia-smi -q -x`` of a HostProfile, in the driver era's real format (see render.py)."""

import time
from collections.abc import Iterable
from xml.sax.saxutils import escape

from tests.lab.profiles import EVENT_REASONS, Gpu, HostProfile

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
