"""Recognise a captured tool output by its content (for ``probe --import``)."""

from __future__ import annotations

import re
from typing import Literal

OutputKind = Literal[
    "nvidia-smi-xml",
    "nvidia-smi-q",
    "nvidia-smi-csv",
    "nvidia-smi-compute-apps",
    "nvidia-smi-table",
    "nvidia-smi-list",
    "nvidia-smi-nvlink",
    "lspci",
    "lscpu",
    "cpuinfo",
    "meminfo",
    "sensors",
    "rocm-smi",
    "os-release",
]

_LSPCI_LINE = re.compile(r"^(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7] \S", re.M)
_LIST_LINE = re.compile(r"^GPU \d+: .+\(UUID: ", re.M)
_NVLINK_LINE = re.compile(r"^\s+Link \d+: ", re.M)
_CSV_GPU_FIELDS = (
    "name",
    "memory.total",
    "pci.bus_id",
    "uuid",
    "driver_version",
    "temperature.gpu",
    "index",
)


def _csv_kind(first_line: str) -> OutputKind | None:
    fields = [field.strip().split(" [")[0].lower() for field in first_line.split(",")]
    if "pid" in fields and ("process_name" in fields or "used_gpu_memory" in fields):
        return "nvidia-smi-compute-apps"
    if len(fields) > 1 and any(field in _CSV_GPU_FIELDS for field in fields):
        return "nvidia-smi-csv"
    return None


def _nvidia_smi_kind(text: str, head: str) -> OutputKind | None:
    if "<nvidia_smi_log" in head:
        return "nvidia-smi-xml"
    if "==NVSMI LOG==" in head:
        return "nvidia-smi-q"
    if "NVIDIA-SMI" in head and "+---" in head:
        return "nvidia-smi-table"
    if _LIST_LINE.search(head):
        return "nvidia-smi-nvlink" if _NVLINK_LINE.search(text) else "nvidia-smi-list"
    return None


def _system_kind(text: str, head: str) -> OutputKind | None:
    if "ROCm System Management Interface" in head:
        return "rocm-smi"
    if re.search(r"^MemTotal:\s+\d+", head, re.M):
        return "meminfo"
    if re.search(r"^\s*CPU\(s\):\s+\d", head, re.M) and re.search(
        r"^\s*(Architecture|Model name|Flags|Socket\(s\)):", head, re.M
    ):
        return "lscpu"
    if re.search(r"^processor\s*:\s*\d+", head, re.M):
        return "cpuinfo"
    if _LSPCI_LINE.search(head):
        return "lspci"
    if re.search(r"^Adapter: ", text, re.M):
        return "sensors"
    if re.search(r"^(PRETTY_NAME|NAME|ID)=", head, re.M):
        return "os-release"
    return None


def detect_kind(text: str) -> OutputKind | None:
    """What produced ``text``, or None when it is not an output moefleet can read."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        return None
    head = stripped[:20000]
    first_line = stripped.splitlines()[0]
    return _nvidia_smi_kind(stripped, head) or _csv_kind(first_line) or _system_kind(stripped, head)
