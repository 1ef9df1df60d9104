"""Parse the default ``nvidia-smi`` table, ``nvidia-smi -L`` and ``nvidia-smi nvlink -s``.

The table comes in several layouts, all read by splitting rows on "|": the 79-column one of
older drivers (2 rows per GPU before MIG existed, 3 after), the 89-column one of newer ones
(from about 530; both are recognised by their "|" rows, not by the driver version), the
Windows one whose first column says "Driver-Model" (WDDM/TCC) instead of "Persistence-M", and
610+'s header that says "KMD Version"/"CUDA UMD Version" instead of "Driver Version"/"CUDA
Version". Per GPU the rows hold: index, name (cut to "..." when too long), persistence or
driver model | bus id, display active | volatile uncorrected ECC count ("Off"/"N/A", "On" under
MIG) — fan, temperature, perf state, power usage/cap | memory used/total | GPU util, compute
mode — (blank) | (blank) | MIG mode. Then optional "MIG devices:" and "Processes:" tables.
"""

from __future__ import annotations

import re

from moefleet.errors import ParseError
from moefleet.facts.gpu_names import lookup_gpu
from moefleet.facts.model import (
    EccFacts,
    GpuFacts,
    GpuProcess,
    GpuReport,
    MigDevice,
    NvlinkLink,
)
from moefleet.facts.values import (
    is_not_available,
    normalize_bus_id,
    parse_float,
    parse_int,
    parse_mib,
    parse_version,
)

_NAME_CELL = re.compile(r"^\s*(\d+)\s+(.+?)\s+(\S+)\s*$")
_STATUS_CELL = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)\s+(.*?)\s*/\s*(.*?)\s*$")
_PROCESS_WITH_GI = re.compile(r"^(\d+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(.*?)\s*(\S+)$")
_PROCESS_PLAIN = re.compile(r"^(\d+)\s+(\d+)\s+(\S+)\s+(.*?)\s*(\S+)$")
_MIG_IDS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


def _cells(line: str) -> list[str]:
    """'| a | b | c |' -> [' a ', ' b ', ' c '] (always at least 3 cells)."""
    cells = line.strip().strip("|").split("|")
    return cells + [""] * (3 - len(cells))


def _blocks(lines: list[str], start: int) -> tuple[list[list[str]], int]:
    """The '|' rows after line ``start`` grouped by '+---' rules, and where the table ends."""
    blocks: list[list[str]] = [[]]
    index = start
    while index < len(lines) and lines[index].startswith(("|", "+")):
        line = lines[index]
        if line.startswith("+") and line.count("+") <= 2:
            break  # a full-width rule closes the table
        if line.startswith("+"):
            blocks.append([])
        elif not line.startswith("|="):
            blocks[-1].append(line)
        index += 1
    return [block for block in blocks if block], index


def _header_end(lines: list[str], start: int) -> int:
    """The index of the first '|===' rule at or after ``start`` (len(lines) when none)."""
    return next((i for i in range(start, len(lines)) if lines[i].startswith("|=")), len(lines))


def _switch(value: str | None, on: str, off: str) -> bool | None:
    """True/False for the two words a column uses ('On'/'Off'), None for anything else."""
    word = (value or "").strip().lower()
    return True if word == on else False if word == off else None


def _ecc(cell: str) -> EccFacts:
    value = cell.strip()
    count = parse_int(value) if value.isdigit() else None
    if count is not None:
        return EccFacts(enabled=True, volatile_uncorrected=count)
    return EccFacts(enabled=_switch(value, "on", "off"))


def _memory(cell: str) -> tuple[int | None, int | None]:
    used, _, total = cell.partition("/")
    return parse_mib(used.strip()), parse_mib(total.strip())


def _gpu(block: list[str], driver_model_column: bool) -> GpuFacts:
    first, second = _cells(block[0]), _cells(block[1] if len(block) > 1 else "")
    name_match = _NAME_CELL.match(first[0])
    if name_match is None:
        raise ParseError(f"nvidia-smi table: cannot read the GPU row {block[0].strip()!r}"[:200])
    index, name, mode = name_match.groups()
    status = _STATUS_CELL.match(second[0])
    fan, temp, pstate, draw, cap = status.groups() if status else (None,) * 5
    used, total = _memory(second[1])
    mig = _cells(block[2])[2] if len(block) > 2 else None
    architecture, capability = lookup_gpu(name)
    return GpuFacts(
        index=int(index),
        name=name,
        name_truncated=name.endswith("..."),
        bus_id=normalize_bus_id((first[1].split() or [""])[0]),
        architecture=architecture,
        compute_capability=capability,
        memory_total_mib=total,
        memory_used_mib=used,
        temperature_c=parse_float(temp),
        fan_percent=parse_float(fan),
        power_draw_w=parse_float(draw),
        power_limit_w=parse_float(cap),
        pstate=None if is_not_available(pstate) else pstate,
        utilization_percent=parse_float((second[2].split() or [""])[0]),
        ecc=_ecc(first[2]),
        persistence_mode=None if driver_model_column else _switch(mode, "on", "off"),
        mig_enabled=_switch(mig, "enabled", "disabled"),
    )


def _mig_device(block: list[str]) -> tuple[int, MigDevice] | None:
    cells = _cells(block[0])
    ids = _MIG_IDS.match(cells[0])
    if ids is None:
        return None
    used, total = _memory(cells[1])
    gpu, gi, ci, _ = (int(group) for group in ids.groups())
    return gpu, MigDevice(
        gpu_instance_id=gi, compute_instance_id=ci, memory_used_mib=used, memory_total_mib=total
    )


def _process(row: str, with_instances: bool) -> tuple[int, GpuProcess] | None:
    text = row.strip().strip("|").strip()
    match = (_PROCESS_WITH_GI if with_instances else _PROCESS_PLAIN).match(text)
    if match is None:
        return None
    groups = match.groups()
    gpu, pid, kind, name, memory = (groups[0], *groups[3:]) if with_instances else groups
    return int(gpu), GpuProcess(
        pid=int(pid), name=name.strip(), type=kind, used_memory_mib=parse_mib(memory)
    )


def _section_start(lines: list[str], title: str) -> int | None:
    return next((i for i, line in enumerate(lines) if title in line), None)


def _mig_devices(lines: list[str]) -> list[tuple[int, MigDevice]]:
    start = _section_start(lines, "MIG devices:")
    if start is None:
        return []
    blocks, _ = _blocks(lines, _header_end(lines, start) + 1)
    return [device for block in blocks if (device := _mig_device(block)) is not None]


def _processes(lines: list[str]) -> list[tuple[int, GpuProcess]]:
    start = _section_start(lines, "Processes:")
    if start is None:
        return []
    end = _header_end(lines, start)
    with_instances = any(" GI " in line for line in lines[start:end])
    blocks, _ = _blocks(lines, end + 1)
    rows = [row for block in blocks for row in block]
    return [found for row in rows if (found := _process(row, with_instances)) is not None]


def _versions(lines: list[str]) -> tuple[str | None, str | None]:
    header = next((line for line in lines if "NVIDIA-SMI" in line), "")
    driver = re.search(r"(?:KMD|Driver) Version:\s*(\S+)", header)
    cuda = re.search(r"CUDA (?:UMD )?Version:\s*(\S+)", header)
    return (
        parse_version(driver.group(1)) if driver else None,
        parse_version(cuda.group(1)) if cuda else None,
    )


def _gpu_table(lines: list[str]) -> tuple[list[GpuFacts], bool]:
    """The GPU rows of the first table, and whether its header was found."""
    heading = _section_start(lines, "Bus-Id")
    if heading is None:
        return [], False
    driver_model = "Driver-Model" in lines[heading]
    blocks, _ = _blocks(lines, _header_end(lines, heading) + 1)
    return [_gpu(block, driver_model) for block in blocks], True


def _report(text: str) -> GpuReport:
    lines = [line.rstrip() for line in text.splitlines()]
    gpus, found = _gpu_table(lines)
    if not found:
        raise ParseError("not nvidia-smi table output: no 'Bus-Id' header row")
    by_index = {gpu.index: gpu for gpu in gpus}
    for index, device in _mig_devices(lines):
        if index in by_index:
            by_index[index].mig_devices.append(device)
    for index, process in _processes(lines):
        if index in by_index:
            by_index[index].processes.append(process)
    driver, cuda = _versions(lines)
    warnings = [line.strip() for line in lines if line.strip().upper().startswith("WARNING")]
    return GpuReport(
        source="nvidia-smi-table",
        driver_version=driver,
        cuda_version=cuda,
        gpus=gpus,
        warnings=warnings,
    )


def parse_nvsmi_table(text: str) -> GpuReport:
    """GPUs from the default ``nvidia-smi`` table (names may be truncated: see name_truncated)."""
    try:
        return _report(text)
    except (ValueError, OverflowError) as exc:  # pydantic's ValidationError is a ValueError
        raise ParseError(f"nvidia-smi table: unusable value ({exc})"[:300]) from exc


_LIST_GPU = re.compile(r"^GPU (\d+): (.+?) \(UUID: ([^)]*)\)\s*$")
_LIST_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: ([^)]*)\)\s*$")


def _list_gpu(match: re.Match[str]) -> GpuFacts:
    name = match.group(2).strip()
    architecture, capability = lookup_gpu(name)
    return GpuFacts(
        index=int(match.group(1)),
        name=name,
        name_truncated=False,
        uuid=match.group(3).strip() or None,
        architecture=architecture,
        compute_capability=capability,
    )


def _listed(text: str) -> GpuReport:
    gpus: list[GpuFacts] = []
    for line in text.splitlines():
        if gpu_line := _LIST_GPU.match(line):
            gpus.append(_list_gpu(gpu_line))
        elif (mig_line := _LIST_MIG.match(line)) and gpus:
            device = MigDevice(profile=mig_line.group(1), uuid=mig_line.group(3).strip() or None)
            gpus[-1].mig_devices.append(device)
    if not gpus:
        raise ParseError("not nvidia-smi -L output: no 'GPU <n>: <name> (UUID: ...)' line")
    for listed in gpus:
        listed.mig_enabled = True if listed.mig_devices else None
    return GpuReport(source="nvidia-smi-list", gpus=gpus)


def parse_nvsmi_list(text: str) -> GpuReport:
    """GPUs (and their MIG devices) from ``nvidia-smi -L``."""
    try:
        return _listed(text)
    except ValueError as exc:  # e.g. an index too long for int()
        raise ParseError(f"nvidia-smi -L: unusable value ({exc})"[:300]) from exc


_NVLINK_GPU = re.compile(r"^GPU (\d+): ")
_NVLINK_LINK = re.compile(r"^\s+Link (\d+): (.*?)\s*$")


def _links(text: str) -> list[NvlinkLink]:
    links: list[NvlinkLink] = []
    gpu: int | None = None
    for line in text.splitlines():
        if header := _NVLINK_GPU.match(line):
            gpu = int(header.group(1))
        elif link := _NVLINK_LINK.match(line):
            if gpu is None:
                raise ParseError("nvidia-smi nvlink -s: a 'Link' line before any 'GPU' line")
            state = link.group(2)
            active = "inactive" not in state.lower() and parse_float(state) is not None
            speed = parse_float(state) if active else None
            links.append(
                NvlinkLink(gpu_index=gpu, link=int(link.group(1)), active=active, speed_gbps=speed)
            )
        elif line.strip() and gpu is None:
            raise ParseError(f"not nvidia-smi nvlink -s output: {line.strip()[:80]!r}")
    return links


def parse_nvlink_status(text: str) -> list[NvlinkLink]:
    """Every link of ``nvidia-smi nvlink -s``: '25.781 GB/s' is active, '<inactive>' is not.

    Empty output (a host without NVLink) gives no links; speeds are in GB/s as printed."""
    try:
        return _links(text)
    except ValueError as exc:  # e.g. a link number too long for int()
        raise ParseError(f"nvidia-smi nvlink -s: unusable value ({exc})"[:300]) from exc
