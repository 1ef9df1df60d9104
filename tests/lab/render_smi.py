"""The default ``nvidia-smi`` table, ``-L``, ``nvlink -s`` and ``llama-server --version``."""

import time

from tests.lab.profiles import Gpu, HostProfile, LlamaServer

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
